// Knex: `connection.password` as a function reaches node-postgres, which calls it for each new
// connection. (Not `expirationChecker: () => true`: in knex >= 3.2 that evicts every pooled
// connection and loops until KnexTimeoutError.)
const knex = require('knex')
const { Provider } = require('passmint')
const { settings } = require('./settings')

async function main() {
  const { url, host, port, database, user, ssl } = settings()
  const provider = new Provider(url)
  const role = user ?? (await provider.tokenInfo()).username
  const db = knex({ client: 'pg', connection: { host, port, database, user: role, password: provider.password, ssl }, pool: { min: 0, max: 5 } })
  try {
    const { rows } = await db.raw('SELECT current_user AS user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')
    console.log(JSON.stringify({ driver: 'Knex', ...rows[0] }))
  } finally {
    await db.destroy()
  }
}

main().catch((e) => {
  console.error(`${e.code ?? e.name}: ${e.message}`)
  process.exitCode = 1
})
