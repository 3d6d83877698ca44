// node-postgres: every new pool connection asks passmint for the password (cached, refreshed ahead).
const pg = require('pg')
const { Provider } = require('passmint')
const { settings } = require('./settings')

async function main() {
  const { url, host, port, database, user, ssl } = settings()
  const provider = new Provider(url)
  const role = user ?? (await provider.tokenInfo()).username
  const pool = new pg.Pool({ host, port, database, user: role, password: provider.password, ssl, max: 5 })
  try {
    const { rows } = await pool.query('SELECT current_user AS user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')
    console.log(JSON.stringify({ driver: 'pg.Pool', ...rows[0] }))
  } finally {
    await pool.end()
  }
}

main().catch((e) => {
  console.error(`${e.code ?? e.name}: ${e.message}`)
  process.exitCode = 1
})
