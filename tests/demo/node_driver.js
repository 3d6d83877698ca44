// `make demo`: one Node driver logs in with passmint and prints one JSON line.
//
//   node node_driver.js pg|postgres|sequelize|knex|drizzle|kysely|typeorm|mikroorm
//
// The provider URL is $PASSMINT_PROVIDER; the server the usual PG* variables; the role the one
// the token names. The ORMs get their TLS from the helper's default (verified, Node's roots plus
// NODE_EXTRA_CA_CERTS) and their user from the token. Prints {"user", "ms"} (ms: from building
// the provider to the answer).
const path = require('node:path')
const fs = require('node:fs')

const top = path.resolve(__dirname, '..', '..')
const need = (id) => require(require.resolve(id, { paths: [path.join(top, 'tests')] }))
const { Provider, configureSequelize, mikroOrm6DriverOptions, pgOptions } = require(process.env.PASSMINT_NODE_PACKAGE ?? path.join(top, 'bindings-node'))

const QUERY = 'SELECT current_user AS user'
const host = process.env.PGHOST
const port = Number(process.env.PGPORT)
const database = process.env.PGDATABASE
const ssl = { rejectUnauthorized: true, ca: fs.readFileSync(process.env.PGSSLROOTCERT) }

const drivers = {
  async pg(p, user) {
    const pool = new (need('pg').Pool)({ host, port, database, user, password: p.password, ssl })
    try {
      return (await pool.query(QUERY)).rows[0].user
    } finally {
      await pool.end()
    }
  },
  async postgres(p, user) {
    const sql = need('postgres')({ host, port, database, username: user, pass: p.password, ssl, max: 1 })
    try {
      return (await sql.unsafe(QUERY))[0].user
    } finally {
      await sql.end()
    }
  },
  async sequelize(p) {
    const { Sequelize } = need('sequelize')
    const seq = configureSequelize(new Sequelize({ dialect: 'postgres', host, port, database, dialectOptions: { ssl }, logging: false }), p)
    try {
      return (await seq.query(QUERY, { type: 'SELECT' }))[0].user
    } finally {
      await seq.close()
    }
  },
  async knex(p, user) {
    const db = need('knex')({ client: 'pg', connection: { host, port, database, user, password: p.password, ssl }, pool: { min: 0, max: 2 } })
    try {
      return (await db.raw(QUERY)).rows[0].user
    } finally {
      await db.destroy()
    }
  },
  async drizzle(p) {
    const db = need('drizzle-orm/node-postgres').drizzle({ client: new (need('pg').Pool)(await pgOptions(p, { host, port, database, max: 2 })) })
    try {
      return (await db.execute(need('drizzle-orm').sql.raw(QUERY))).rows[0].user
    } finally {
      await db.$client.end()
    }
  },
  async kysely(p) {
    const { Kysely, PostgresDialect, sql } = need('kysely')
    const db = new Kysely({ dialect: new PostgresDialect({ pool: new (need('pg').Pool)(await pgOptions(p, { host, port, database, max: 2 })) }) })
    try {
      return (await sql.raw(QUERY).execute(db)).rows[0].user
    } finally {
      await db.destroy()
    }
  },
  async typeorm(p) {
    const { DataSource } = need('typeorm')
    const ds = new DataSource({ type: 'postgres', extra: await pgOptions(p, { host, port, database, max: 2 }), logging: false })
    await ds.initialize()
    try {
      return (await ds.query(QUERY))[0].user
    } finally {
      await ds.destroy()
    }
  },
  async mikroorm(p) {
    const { MikroORM } = need('@mikro-orm/postgresql')
    const orm = await MikroORM.init({ dbName: database, entities: [], discovery: { warnWhenNoEntities: false }, ensureDatabase: false,
      pool: { min: 0, max: 2 }, driverOptions: await mikroOrm6DriverOptions(p, { host, port, database }) })
    try {
      return (await orm.em.getConnection().execute(QUERY))[0].user
    } finally {
      await orm.close()
    }
  },
}

async function main(name) {
  const started = performance.now()
  const p = new Provider(process.env.PASSMINT_PROVIDER)
  const user = (await p.tokenInfo()).username ?? p.username
  const answer = await drivers[name](p, user)
  console.log(JSON.stringify({ user: answer, ms: +(performance.now() - started).toFixed(1) }))
}

main(process.argv[2]).catch((e) => {
  console.log(JSON.stringify({ error: `${e.code ?? e.name}: ${e.message}` }))
  process.exitCode = 1
})
