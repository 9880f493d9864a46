-- Seed data for the demo's dev database: run by `cargo xtask dev-reset` (and `cargo xtask db seed`).
INSERT INTO tasks (title, priority) VALUES ('try `cargo xtask dev-start add <title>`', 1);
INSERT INTO tasks (title, priority, done) VALUES ('read the README', 2, 1);
INSERT INTO tasks (title, priority) VALUES ('write a migration: cargo xtask db new <words>', 3);
