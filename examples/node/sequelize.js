// Sequelize: configureSequelize adds a beforeConnect hook that sets the password (and the
// username, when the token names the role and none was given) for every new connection.
const { Sequelize, QueryTypes } = require('sequelize')
const { Provider, configureSequelize } = require('passmint')
const { settings } = require('./settings')

async function main() {
  const { url, host, port, database, user, ssl } = settings()
  const sequelize = new Sequelize({ dialect: 'postgres', host, port, database, username: user, dialectOptions: { ssl }, logging: false })
  configureSequelize(sequelize, new Provider(url))
  try {
    const [row] = await sequelize.query('SELECT current_user AS user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()', {
      type: QueryTypes.SELECT,
    })
    console.log(JSON.stringify({ driver: 'Sequelize', ...row }))
  } finally {
    await sequelize.close()
  }
}

main().catch((e) => {
  console.error(`${e.code ?? e.name}: ${e.message}`)
  process.exitCode = 1
})
