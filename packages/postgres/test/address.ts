/** Where the specs find PostgreSQL: 127.0.0.1:5432, trust auth, user postgres, database test (PG* override). */
export const TEST_HOST = process.env["PGHOST"] ?? "127.0.0.1"
export const TEST_PORT = Number(process.env["PGPORT"] ?? 5432)
export const TEST_USER = process.env["PGUSER"] ?? "postgres"
export const TEST_DATABASE = process.env["PGDATABASE"] ?? "test"
export const testConnection = { host: TEST_HOST, port: TEST_PORT, username: TEST_USER, database: TEST_DATABASE }
