// Postgres.js: `pass` may be a function returning a Promise; it is called for each new connection.
const postgres = require('postgres')
const { Provider } = require('passmint')
const { settings } = require('./settings')

async function main() {
  const { url, host, port, database, user, ssl } = settings()
  const provider = new Provider(url)
  const username = user ?? (await provider.tokenInfo()).username
  const sql = postgres({ host, port, database, username, pass: provider.password, ssl, max: 5 })
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
