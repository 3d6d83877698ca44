// Postgres.js: postgresOptions sets `pass` (called for each new connection), the user the token
// names when none is given, and verified TLS when none is chosen (here the CA comes from settings).
const postgres = require('postgres')
const { Provider, postgresOptions } = require('passmint')
const { settings } = require('./settings')

async function main() {
  const { url, host, port, database, user, ssl } = settings()
  const provider = new Provider(url)
  const sql = postgres(await postgresOptions(provider, { host, port, database, username: user, ssl, max: 5 }))
  try {
    const [row] = await sql`SELECT current_user AS user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`
    console.log(JSON.stringify({ driver: 'Postgres.js', ...row }))
  } finally {
    await sql.end()
  }
}

main().catch((e) => {
  console.error(`${e.code ?? e.name}: ${e.message}`)
  process.exitCode = 1
})
