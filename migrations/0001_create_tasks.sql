-- Migration 0001: create tasks
-- Created 2026-11-22T02:58:05Z by `cargo envdb new`.
-- Write the schema change below. Add `-- envdb: no-transaction` as the first line to run outside a transaction.

