// The Node ORMs on node-postgres with a passmint token (issue 23): pgOptions for pg.Pool, Drizzle
// (`drizzle({ client: pool })`), Kysely (`PostgresDialect`) and TypeORM (`extra`), and
// mikroOrm6DriverOptions for MikroORM 6 (on Knex; MikroORM 7 needs Node 22, and takes pgOptions'
// config as its `driverOptions`). Each logs in over the TLS the helper adds when the caller chose
// none, as the role the token names, for DSQL-, RDS-, Azure- and Google-style providers backed by
// the mock; each fills a pool of 20 at once on a cold cache with one identity request. Then
// pgOptions' own rules: the TLS default and refusals, connection strings, the user.
//
// As in drivers.test.mjs, the server must know a token before a driver sends it: a test mints
// through the provider it hands the ORM first, or queues the Azure token the mock will issue.

import { test, beforeEach, after } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import path from 'node:path'
import util from 'node:util'
import {
  TOP, PACKAGE_DIR, passmint, pg, mock, KINDS, ROUTE, CHECK, CA, CA_PEM, PG_PORT, DSQL_HOST,
  makeProvider, login, newRole, setPassword, runWithoutHarnessCa, closeAdmin,
} from './harness.mjs'

// The ORMs are in the test install only (tests/node-oldest holds the drivers alone).
const require = createRequire(path.join(TOP, 'tests', 'package.json'))
const { drizzle } = require('drizzle-orm/node-postgres')
const drizzleSql = require('drizzle-orm').sql
const { Kysely, PostgresDialect, sql: kyselySql } = require('kysely')
const { DataSource } = require('typeorm')
const { MikroORM } = require('@mikro-orm/postgresql')

beforeEach(() => mock.reset())
after(closeAdmin)

const { pgOptions, mikroOrm6DriverOptions } = passmint
/** The harness server, with neither a user nor TLS: the helper adds both. */
const SERVER = { host: 'localhost', port: PG_PORT, database: 'postgres' }
/** Holds its connection for 0.5 s, so that 20 at once need 20 connections. */
const HOLD = 'SELECT s.pid, s.ssl, current_user AS user FROM pg_stat_ssl s, pg_sleep(0.5) WHERE s.pid = pg_backend_pid()'

function assertSession(row, role) {
  assert.equal(row.user, role)
  assert.equal(row.ssl, true)
}

/** Each ORM, opened over `provider` with `config` (pgOptions' config), as a test uses it. */
const orms = {
  async 'pg.Pool'(provider, config, max) {
    const pool = new pg.Pool({ ...(await pgOptions(provider, config)), max })
    return { query: async (q) => (await pool.query(q)).rows, close: () => pool.end(), handle: pool }
  },
  async Drizzle(provider, config, max) {
    const db = drizzle({ client: new pg.Pool({ ...(await pgOptions(provider, config)), max }) })
    return { query: async (q) => (await db.execute(drizzleSql.raw(q))).rows, close: () => db.$client.end(), handle: db }
  },
  async Kysely(provider, config, max) {
    const db = new Kysely({ dialect: new PostgresDialect({ pool: new pg.Pool({ ...(await pgOptions(provider, config)), max }) }) })
    return { query: async (q) => (await kyselySql.raw(q).execute(db)).rows, close: () => db.destroy(), handle: db }
  },
  async TypeORM(provider, config, max, pool = {}) {
    const ds = new DataSource({ type: 'postgres', extra: { ...(await pgOptions(provider, config)), max, ...pool }, logging: false })
    await ds.initialize()
    return { query: (q) => ds.query(q), close: () => ds.destroy(), handle: ds, ds }
  },
  async MikroORM(provider, config, max) {
    const orm = await MikroORM.init({
      dbName: config.database, entities: [], discovery: { warnWhenNoEntities: false }, ensureDatabase: false,
      connect: false, pool: { min: 0, max }, driverOptions: await mikroOrm6DriverOptions(provider, config),
    })
    return { query: (q) => orm.em.getConnection().execute(q), close: () => orm.close(true), handle: orm }
  },
}

for (const kind of KINDS) {
  for (const [name, open] of Object.entries(orms)) {
    test(`${kind}: ${name} logs in over verified TLS as the token's role`, async () => {
      const role = await newRole()
      const p = await makeProvider(kind, role)
      const token = await login(p, role)
      const db = await open(p, SERVER, 2)
      try {
        assertSession((await db.query(CHECK))[0], role)
        // The ORM keeps its pool and the open connection: inspecting it must not show the token.
        assert.ok(!util.inspect(db.handle, { depth: 12 }).includes(token), `the token shows in util.inspect(${name})`)
      } finally {
        await db.close()
      }
      assert.equal((await mock.requests(ROUTE[kind])).length, 1)
      assert.equal(await p.token(), token)
    })
  }
}

for (const [name, open] of Object.entries(orms)) {
  test(`${name}: a pool of 20 filled at once on a cold cache makes one identity request`, async () => {
    const role = await newRole()
    const p = await makeProvider('azure', role)
    await setPassword(role, await mock.queueAzureToken())
    // TypeORM connects once in initialize(): that connection, idle, closes at once, and the
    // provider forgets its token, so that the 20 below all start on a cold cache.
    const db = await open(p, SERVER, 20, { idleTimeoutMillis: 1 })
    let before = 0
    if (db.ds) {
      const pool = db.ds.driver.master
      while (pool.totalCount > 0) await new Promise((resolve) => setTimeout(resolve, 10))
      p.invalidate()
      await setPassword(role, await mock.queueAzureToken())
      before = (await mock.requests('azure-appservice')).length
      assert.equal(before, 1)
    }
    await mock.fault('azure-appservice', { delay: 0.5, times: 1 }) // all 20 ask while it is in flight
    try {
      const rows = (await Promise.all(Array.from({ length: 20 }, () => db.query(HOLD)))).map((r) => r[0])
      assert.equal(new Set(rows.map((r) => r.pid)).size, 20)
      rows.forEach((r) => assertSession(r, role))
      assert.equal((await mock.requests('azure-appservice')).length - before, 1)
    } finally {
      await db.close()
    }
  })
}

test('pgOptions: verified TLS when nothing chose, the token\'s role, and the function as the password', async () => {
  const role = await newRole()
  const p = await makeProvider('azure', role)
  const token = await login(p, role)
  const options = await pgOptions(p, { ...SERVER, max: 1 })
  assert.deepEqual({ ...options, password: typeof options.password }, {
    ...SERVER, max: 1, password: 'function', user: role, ssl: { rejectUnauthorized: true },
  })
  assert.equal(options.password, p.password)
  assert.ok(!util.inspect(options, { depth: 8, showHidden: true }).includes(token), 'the token shows in util.inspect(options)')
  // For an IP address the helper's TLS checks the certificate against the address (it names
  // 127.0.0.1), which node-postgres before 8.23.1 checked against "localhost".
  const byIp = await pgOptions(p, { ...SERVER, host: '127.0.0.1' })
  assert.equal(typeof byIp.ssl.checkServerIdentity, 'function')
  for (const config of [SERVER, { ...SERVER, host: '127.0.0.1' }]) {
    const client = new pg.Client(await pgOptions(p, config))
    await client.connect()
    try {
      assertSession((await client.query(CHECK)).rows[0], role)
      assert.ok(!util.inspect(client, { depth: 8 }).includes(token), 'the token shows in util.inspect(client)')
    } finally {
      await client.end()
    }
  }
  // A DSQL cluster given by id and region: its endpoint is the host, with no string building.
  const dsql = passmint.dsql({ host: 'abc123example', region: 'us-east-1', user: 'admin' })
  assert.equal((await pgOptions(dsql)).host, DSQL_HOST)
  assert.equal((await pgOptions(dsql, { host: 'proxy.internal' })).host, 'proxy.internal')
  process.env.PGHOST = 'proxy.internal'
  try {
    assert.equal((await pgOptions(dsql)).host, undefined)
  } finally {
    delete process.env.PGHOST
  }
})

test('pgOptions: the default TLS verifies the server: an untrusted certificate is refused', async () => {
  const role = await newRole()
  const p = await makeProvider('dsql', role)
  await login(p, role)
  // The same program without NODE_EXTRA_CA_CERTS: nothing trusts the harness CA.
  const script = `
    const pg = require(${JSON.stringify(require.resolve('pg'))})
    const passmint = require(${JSON.stringify(PACKAGE_DIR)})
    const provider = passmint.dsql({ host: ${JSON.stringify(DSQL_HOST)}, user: ${JSON.stringify(role)} })
    passmint.pgOptions(provider, { host: 'localhost', port: ${PG_PORT}, database: 'postgres' }).then(async (options) => {
      const client = new pg.Client(options)
      try { await client.connect(); console.log('connected'); await client.end() } catch (e) { console.log('refused: ' + e.message) }
    })`
  assert.match(runWithoutHarnessCa(script), /refused: .*(self[- ]signed|unable to verify|certificate)/i)
})

test('pgOptions refuses plaintext and TLS that checks no name, before any token, unless opted in', async () => {
  const role = await newRole()
  const p = await makeProvider('dsql', role)
  const base = { ...SERVER, user: role }
  const url = (query) => `postgres://${role}@localhost:${PG_PORT}/postgres?${query}`
  const refusal = (optIn, pattern) => (e) => e instanceof passmint.PassmintError && e.code === 'PASSMINT_INVALID_CONFIG' &&
    e.message.includes(optIn) && e.message.includes('pgOptions()') && pattern.test(e.message)
  const plaintext = refusal('{ allowPlaintext: true }', /without TLS/)
  const unverified = refusal('{ allowUnverifiedTls: true }', /does not check that the server is the one you named/)

  for (const ssl of [false, 0, '']) {
    await assert.rejects(pgOptions(p, { ...base, ssl }), plaintext, `ssl: ${JSON.stringify(ssl)}`)
  }
  await assert.rejects(pgOptions(p, { connectionString: url('sslmode=disable') }),
    (e) => plaintext(e) && /the connectionString's sslmode=disable/.test(e.message))
  await assert.rejects(pgOptions(p, { connectionString: url('ssl=0') }), plaintext)
  // node-postgres matches PGSSLMODE exactly: `allow` and a capitalised `Require` mean plaintext.
  for (const mode of ['disable', 'allow', 'Require']) {
    process.env.PGSSLMODE = mode
    try {
      await assert.rejects(pgOptions(p, base), (e) => plaintext(e) && e.message.includes(`PGSSLMODE=${mode}`), mode)
    } finally {
      delete process.env.PGSSLMODE
    }
  }
  await assert.rejects(pgOptions(p, { ...base, ssl: { ca: CA, rejectUnauthorized: false } }),
    (e) => unverified(e) && /one-word fix: rejectUnauthorized: true/.test(e.message))
  await assert.rejects(pgOptions(p, { ...base, ssl: { ca: CA, checkServerIdentity: () => undefined } }), unverified)
  await assert.rejects(pgOptions(p, { connectionString: url('sslmode=no-verify') }),
    (e) => unverified(e) && /the connectionString's sslmode=no-verify/.test(e.message))
  // Under uselibpqcompat=true node-postgres gives `require` libpq's meaning: no check at all.
  await assert.rejects(pgOptions(p, { connectionString: url('sslmode=require&uselibpqcompat=true') }),
    (e) => unverified(e) && /require -> verify-full/.test(e.message))
  process.env.PGSSLMODE = 'no-verify'
  try {
    await assert.rejects(pgOptions(p, base), unverified)
  } finally {
    delete process.env.PGSSLMODE
  }
  assert.equal((await mock.requests('container')).length, 0, 'no token is minted for a refused config')

  // The connection string's TLS is node-postgres's choice over the config's, as pg merges them.
  assert.deepEqual((await pgOptions(p, { ...base, ssl: { rejectUnauthorized: false }, connectionString: url('sslmode=verify-full') })).ssl, {})
  // node-postgres turns PGSSLMODE=require into ssl: true, which Node verifies in full: let through.
  await login(p, role)
  process.env.PGSSLMODE = 'require'
  try {
    const options = await pgOptions(p, base)
    assert.equal('ssl' in options, false)
    const client = new pg.Client(options)
    await client.connect()
    assertSession((await client.query(CHECK)).rows[0], role)
    await client.end()
  } finally {
    delete process.env.PGSSLMODE
  }
  // Opted in: the caller's TLS stands and the login works; plaintext reaches the server, which says no.
  for (const [config, optIn] of [
    [{ ...base, ssl: { ca: CA, rejectUnauthorized: false } }, { allowUnverifiedTls: true }],
    [{ connectionString: url(`sslmode=no-verify`) }, { allowUnverifiedTls: true }],
  ]) {
    const client = new pg.Client(await pgOptions(p, config, optIn))
    await client.connect()
    assertSession((await client.query(CHECK)).rows[0], role)
    await client.end()
  }
  for (const config of [{ ...base, ssl: false }, { connectionString: url('sslmode=disable') }]) {
    const options = await pgOptions(p, config, { allowPlaintext: true })
    assert.equal(options.ssl, false)
    const client = new pg.Client(options)
    await assert.rejects(client.connect(), (e) => /no encryption|pg_hba/.test(e.message))
  }
})

test('pgOptions reads a connectionString as node-postgres does, and hands back its settings', async () => {
  const role = await newRole()
  const p = await makeProvider('azure', role)
  await login(p, role)
  // Next to a connectionString node-postgres would never call a password function (the string's
  // empty password wins), nor use the config's user: the helper hands back the settings instead.
  const plain = `postgres://localhost:${PG_PORT}/postgres?application_name=orms`
  const options = await pgOptions(p, { connectionString: plain, host: 'elsewhere.invalid', max: 2 })
  assert.deepEqual({ ...options, password: typeof options.password }, {
    host: 'localhost', port: PG_PORT, database: 'postgres', application_name: 'orms', max: 2,
    password: 'function', user: role, ssl: { rejectUnauthorized: true },
  })
  const pool = new pg.Pool(options)
  try {
    assertSession((await pool.query(CHECK)).rows[0], role)
    assert.equal((await pool.query('SHOW application_name')).rows[0].application_name, 'orms')
  } finally {
    await pool.end()
  }
  // sslrootcert is read as node-postgres reads it; verify-full with the caller's CA stands.
  const withCa = await pgOptions(p, { connectionString: `postgres://${role}@localhost:${PG_PORT}/postgres?sslmode=verify-full&sslrootcert=${CA_PEM}` })
  assert.deepEqual(withCa.ssl, { ca: CA })
  const client = new pg.Client(withCa)
  await client.connect()
  assertSession((await client.query(CHECK)).rows[0], role)
  await client.end()
  // The user the string names wins; a password in it is refused (it would not be the token).
  assert.equal((await pgOptions(p, { connectionString: `postgres://someone@localhost/postgres`, user: 'other' })).user, 'someone')
  for (const cs of ['postgres://app:secret@localhost/postgres', 'postgres://app@localhost/postgres?password=secret']) {
    await assert.rejects(pgOptions(p, { connectionString: cs }),
      (e) => e.code === 'PASSMINT_INVALID_ARGUMENT' && /connectionString/.test(e.message) && !e.message.includes('secret'))
  }
  await assert.rejects(pgOptions(p, { connectionString: 'postgres://app:secret@[bad/postgres' }),
    (e) => e.code === 'PASSMINT_INVALID_ARGUMENT' && !e.message.includes('secret'))
})

test('pgOptions: a user of the caller\'s wins and mints nothing; the wrong calls say how to call it', async () => {
  const role = await newRole()
  const p = await makeProvider('azure', role)
  const mine = await pgOptions(p, { ...SERVER, user: 'someone' })
  assert.equal(mine.user, 'someone')
  process.env.PGUSER = 'from-env'
  try {
    assert.equal('user' in (await pgOptions(p, SERVER)), false) // node-postgres reads PGUSER itself
  } finally {
    delete process.env.PGUSER
  }
  assert.equal((await mock.requests('azure-appservice')).length, 0, 'a named user needs no token yet')

  const invalidArgument = (pattern) => (e) => e.code === 'PASSMINT_INVALID_ARGUMENT' && pattern.test(e.message)
  await assert.rejects(pgOptions(p, { ...SERVER, password: 'x' }), invalidArgument(/leave out password/))
  await assert.rejects(pgOptions(p, { ...SERVER, allowPlaintext: true }), invalidArgument(/third argument/))
  await assert.rejects(pgOptions({}, SERVER), invalidArgument(/Provider/))
  await assert.rejects(pgOptions(p, 'postgres://localhost/postgres'), invalidArgument(/config/))
  await assert.rejects(pgOptions(p, { connectionString: 5 }), invalidArgument(/connectionString/))
  // No role anywhere (an app-only token, no user): an error, never the OS user.
  const callback = passmint.Provider.fromFunction(() => ({ token: 'x'.repeat(40), expiresAt: Math.floor(Date.now() / 1000) + 3600 }))
  await assert.rejects(pgOptions(callback, SERVER), (e) => e.code === 'PASSMINT_INVALID_CONFIG' && /names no database role/.test(e.message))
})

test('mikroOrm6DriverOptions: a password MikroORM leaves to node-postgres, else one Knex asks for again', async () => {
  const role = await newRole()
  const p = await makeProvider('dsql', role)
  const token = await login(p, role)
  const options = await mikroOrm6DriverOptions(p, SERVER)
  // MikroORM 6 merges `connection` into Knex's: pgOptions' config, but for the password.
  assert.deepEqual(Object.keys(options), ['connection'])
  const { password, ...connection } = options.connection
  assert.deepEqual(connection, { ...SERVER, user: role, ssl: { rejectUnauthorized: true } })
  // Not `instanceof Function`, or MikroORM would make Knex keep its first answer: node-postgres
  // calls it (on the Client) for each new connection.
  assert.equal(typeof password, 'function')
  assert.equal(password instanceof Function, false)
  assert.equal(await Reflect.apply(password, new pg.Client(), []), token)
  assert.equal(await Reflect.apply(password, new pg.Client(), [{}]), token)
  assert.ok(!util.inspect(options, { depth: 8 }).includes(token))

  // Called otherwise, as a MikroORM that wraps it calls it: MikroORM's dynamic password, which
  // Knex asks for again once the provider dropped the token...
  const first = await password()
  assert.equal(first.password, token)
  assert.equal(first.expirationChecker(), false)
  p.invalidate()
  assert.equal(first.expirationChecker(), true)
  // ...or when half the life it had left is gone (here: 2 s from expiry, after 1 s).
  const expiring = {
    username: 'app', kind: 'dsql',
    tokenInfo: async () => ({ secret: 'not-a-real-token', expiresAt: new Date(Date.now() + 2000), username: 'app' }),
  }
  const dynamic = await Reflect.apply((await mikroOrm6DriverOptions(expiring, { host: 'localhost' })).connection.password, options.connection, [])
  assert.equal(dynamic.expirationChecker(), false)
  await new Promise((resolve) => setTimeout(resolve, 1100))
  assert.equal(dynamic.expirationChecker(), true)
  await assert.rejects(mikroOrm6DriverOptions(p, { ...SERVER, ssl: false }),
    (e) => e.code === 'PASSMINT_INVALID_CONFIG' && e.message.includes('mikroOrm6DriverOptions()'))
})

test('MikroORM 6: once the provider dropped its token, new connections log in with the next one', async () => {
  const role = await newRole()
  const p = await makeProvider('azure', role)
  await setPassword(role, await mock.queueAzureToken())
  const db = await orms.MikroORM(p, SERVER, 2)
  try {
    assertSession((await db.query(CHECK))[0], role)
    // The cloud moved on and the application said so (as after a refused login).
    await setPassword(role, await mock.queueAzureToken())
    p.invalidate()
    // Two at once: two connections, opened with the new token (Knex kept the first otherwise).
    const rows = (await Promise.all([db.query(HOLD), db.query(HOLD)])).map((r) => r[0])
    rows.forEach((r) => assertSession(r, role))
    assert.equal(new Set(rows.map((r) => r.pid)).size, 2)
    assert.equal((await mock.requests('azure-appservice')).length, 2)
  } finally {
    await db.close()
  }
})
