// The Node drivers with a passmint token over verified TLS (issue 6): node-postgres Client and
// Pool (also through pgOptions, whose ORMs are in orms.test.mjs), Postgres.js, Sequelize
// (configureSequelize) and Knex (connection.password as a function), for DSQL-, RDS- and
// Azure-style providers backed by the mock; a cold pool fill; rotation.
//
// The server must know a token before a driver sends it: AWS tokens are signed locally, so a test
// first mints through the very provider it hands the driver (its cache then gives the driver that
// token); for a cold Azure cache the test queues the token the mock will issue.

import { test, beforeEach, after } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import util from 'node:util'
import net from 'node:net'
import {
  passmint, pg, postgres, Sequelize, sequelize7, knex, mock, KINDS, ROUTE, CHECK, CA, PG_PORT,
  makeProvider, login, newRole, setPassword, runWithoutHarnessCa, pgConfig, closeAdmin, DSQL_HOST, RDS_HOST, PG_VERSION, PACKAGE_DIR, resolveTestModule as require_,
} from './harness.mjs'

beforeEach(() => mock.reset())
after(closeAdmin)

const PID = 'SELECT pg_backend_pid() AS pid'
const ssl = { ca: CA, rejectUnauthorized: true }

function assertSession(row, role) {
  assert.equal(row.user, role)
  assert.equal(row.ssl, true)
}

const drivers = {
  async 'pg Client'(p, role) {
    const client = new pg.Client(pgConfig(role, { password: p.password }))
    await client.connect()
    try {
      return (await client.query(CHECK)).rows[0]
    } finally {
      await client.end()
    }
  },
  async 'pg.Pool'(p, role) {
    const pool = new pg.Pool(pgConfig(role, { password: p.password, max: 2 }))
    try {
      return (await pool.query(CHECK)).rows[0]
    } finally {
      await pool.end()
    }
  },
  async 'pg.Pool (pgOptions)'(p, role) {
    const pool = new pg.Pool({ ...(await passmint.pgOptions(p, pgConfig(role))), max: 2 })
    try {
      return (await pool.query(CHECK)).rows[0]
    } finally {
      await pool.end()
    }
  },
  async 'Postgres.js'(p, role) {
    const sql = postgres({ host: 'localhost', port: PG_PORT, database: 'postgres', username: role, pass: p.password, ssl, max: 1 })
    try {
      return (await sql.unsafe(CHECK))[0]
    } finally {
      await sql.end()
    }
  },
  async 'Postgres.js (postgresOptions)'(p, role) {
    const sql = postgres(await passmint.postgresOptions(p, { host: 'localhost', port: PG_PORT, database: 'postgres', username: role, ssl, max: 1 }))
    try {
      return (await sql.unsafe(CHECK))[0]
    } finally {
      await sql.end()
    }
  },
  async Sequelize(p, role) {
    const seq = new Sequelize({
      dialect: 'postgres', host: 'localhost', port: PG_PORT, database: 'postgres', username: role,
      dialectOptions: { ssl }, logging: false,
    })
    passmint.configureSequelize(seq, p)
    try {
      const row = (await seq.query(CHECK, { type: 'SELECT' }))[0]
      // Sequelize keeps the config the hook filled in; inspecting the instance must not show it.
      assert.ok(!util.inspect(seq, { depth: 12 }).includes(await p.token()), 'the token shows in util.inspect(sequelize)')
      return row
    } finally {
      await seq.close()
    }
  },
  ...(sequelize7 && {
    async 'Sequelize 7'(p, role) {
      const seq = passmint.configureSequelize(new sequelize7.Sequelize({
        dialect: sequelize7.PostgresDialect, host: 'localhost', port: PG_PORT, database: 'postgres', user: role, ssl, logging: false,
      }), p)
      try {
        const row = (await seq.query(CHECK, { type: 'SELECT' }))[0]
        assert.ok(!util.inspect(seq, { depth: 12 }).includes(await p.token()), 'the token shows in util.inspect(sequelize)')
        return row
      } finally {
        await seq.close()
      }
    },
  }),
  async Knex(p, role) {
    const db = knex({ client: 'pg', connection: { ...pgConfig(role), password: p.password }, pool: { min: 0, max: 2 } })
    try {
      return (await db.raw(CHECK)).rows[0]
    } finally {
      await db.destroy()
    }
  },
}

for (const kind of KINDS) {
  for (const [name, connect] of Object.entries(drivers)) {
    test(`${kind}: ${name} logs in over verified TLS with the token`, async () => {
      const role = await newRole()
      const p = await makeProvider(kind, role)
      const token = await login(p, role)
      assertSession(await connect(p, role), role)
      assert.equal((await mock.requests(ROUTE[kind])).length, 1)
      assert.equal(await p.token(), token)
    })
  }
}

test('a wrong token is the server\'s error, and the token is not in it', async () => {
  const role = await newRole()
  const p = await makeProvider('dsql', role)
  const token = await p.token()
  await setPassword(role, 'not-the-token')
  const client = new pg.Client(pgConfig(role, { password: p.password }))
  await assert.rejects(client.connect(), (e) => /password authentication failed/.test(e.message) && !e.message.includes(token))
})

test('a pg.Pool filled with 20 connections at once on a cold cache makes one identity request', async () => {
  const role = await newRole()
  const p = await makeProvider('azure', role)
  await setPassword(role, await mock.queueAzureToken())
  await mock.fault('azure-appservice', { delay: 0.3, times: 1 }) // all 20 ask while it is in flight
  const pool = new pg.Pool(pgConfig(role, { password: p.password, max: 20 }))
  try {
    const clients = await Promise.all(Array.from({ length: 20 }, () => pool.connect()))
    const pids = await Promise.all(clients.map(async (c) => (await c.query(PID)).rows[0].pid))
    assert.equal(new Set(pids).size, 20)
    const rows = await Promise.all(clients.map(async (c) => (await c.query(CHECK)).rows[0]))
    rows.forEach((r) => assertSession(r, role))
    clients.forEach((c) => c.release())
    assert.equal((await mock.requests('azure-appservice')).length, 1)
  } finally {
    await pool.end()
  }
})

test('configureSequelize takes the role from the token and turns on verified TLS when none was chosen', async () => {
  const role = await newRole()
  const p = await makeProvider('azure', role)
  await login(p, role)
  // No username, no dialectOptions: the token's role, and TLS verified against the system roots
  // plus NODE_EXTRA_CA_CERTS (the harness CA, as a corporate bundle would be).
  const seq = passmint.configureSequelize(
    new Sequelize({ dialect: 'postgres', host: 'localhost', port: PG_PORT, database: 'postgres', logging: false }), p)
  try {
    assertSession((await seq.query(CHECK, { type: 'SELECT' }))[0], role)
    assert.deepEqual(seq.connectionManager.config.dialectOptions.ssl, { rejectUnauthorized: true })
  } finally {
    await seq.close()
  }
})

test('configureSequelize\'s default TLS verifies the server: an untrusted certificate is refused', async () => {
  const role = await newRole()
  const p = await makeProvider('dsql', role)
  await login(p, role)
  // The same program without NODE_EXTRA_CA_CERTS: nothing trusts the harness CA.
  const script = `
    const { Sequelize } = require(${JSON.stringify(require_('sequelize'))})
    const passmint = require(${JSON.stringify(PACKAGE_DIR)})
    const seq = passmint.configureSequelize(new Sequelize({ dialect: 'postgres', host: 'localhost', port: ${PG_PORT},
      database: 'postgres', username: ${JSON.stringify(role)}, logging: false }), passmint.dsql({ host: ${JSON.stringify(DSQL_HOST)}, user: ${JSON.stringify(role)} }))
    seq.authenticate().then(() => { console.log('connected'); return seq.close() }, (e) => { console.log('refused: ' + e.message); return seq.close() })`
  assert.match(runWithoutHarnessCa(script), /refused: .*(self[- ]signed|unable to verify|certificate)/i)
})

test('a server whose certificate names another host is refused under the default TLS, before the token is sent', async () => {
  const role = await newRole()
  const p = await makeProvider('dsql', role)
  const token = await login(p, role)
  // 127.0.0.2 reaches the same server through a relay; its certificate names localhost and
  // 127.0.0.1 only, and the harness CA is trusted (NODE_EXTRA_CA_CERTS), so only the name is wrong.
  let relayed = 0
  const relay = net.createServer((inbound) => {
    relayed++
    const outbound = net.connect(PG_PORT, '127.0.0.1')
    inbound.pipe(outbound).pipe(inbound)
    inbound.on('error', () => outbound.destroy())
    outbound.on('error', () => inbound.destroy())
  })
  await new Promise((resolve) => relay.listen(0, '127.0.0.2', resolve))
  const port = relay.address().port
  const mismatch = (e) => /altnames|does not match|Hostname\/IP/i.test(e.message) && !e.message.includes(token)
  try {
    const seq = passmint.configureSequelize(new Sequelize({
      dialect: 'postgres', host: '127.0.0.2', port, database: 'postgres', username: role, logging: false,
    }), p)
    try {
      await assert.rejects(seq.authenticate(), (e) => mismatch(e.original ?? e))
    } finally {
      await seq.close()
    }
    // The relay did carry the attempt: the refusal is the name check, not a closed port.
    assert.equal(relayed, 1)
    // Postgres.js sends no server name for an IP address; the helper's TLS checks the address.
    const relayedUrl = `postgres://${role}@127.0.0.2:${port}/postgres`
    const sql = postgres(relayedUrl, await passmint.postgresOptions(p, relayedUrl, { max: 1 }))
    try {
      await assert.rejects(sql.unsafe(CHECK), mismatch)
    } finally {
      await sql.end()
    }
    assert.equal(relayed, 2)
    // node-postgres itself checks an IP address's name from 8.23.1 on (before, against "localhost").
    const [major, minor, patch] = PG_VERSION.split('.').map(Number)
    if (major > 8 || (major === 8 && (minor > 23 || (minor === 23 && patch >= 1)))) {
      const client = new pg.Client({ host: '127.0.0.2', port, user: role, database: 'postgres', password: p.password,
        ssl: { rejectUnauthorized: true, ca: CA } })
      await assert.rejects(client.connect(), mismatch)
      assert.equal(relayed, 3)
    }
    // Through the right name, the same settings log in.
    const ok = new pg.Client({ host: '127.0.0.1', port: PG_PORT, user: role, database: 'postgres', password: p.password,
      ssl: { rejectUnauthorized: true, ca: CA } })
    await ok.connect()
    await ok.end()
  } finally {
    relay.close()
  }
})

test('configureSequelize refuses to send a token without TLS unless allowPlaintext', async () => {
  const role = await newRole()
  const p = await makeProvider('dsql', role)
  const make = (dialectOptions) => new Sequelize({
    dialect: 'postgres', host: 'localhost', port: PG_PORT, database: 'postgres', username: role, dialectOptions, logging: false,
  })
  const refused = (e) => e instanceof passmint.PassmintError && e.code === 'PASSMINT_INVALID_CONFIG' && /allowPlaintext/.test(e.message)
  const isRefused = (e) => refused(e.original ?? e) || refused(e.parent ?? e)

  for (const ssl of [false, 0, '']) {
    const plain = passmint.configureSequelize(make({ ssl }), p)
    await assert.rejects(plain.authenticate(), isRefused, `ssl: ${JSON.stringify(ssl)}`)
    await plain.close()
  }
  // node-postgres matches PGSSLMODE exactly: anything but prefer/require/verify-ca/verify-full/
  // no-verify, `allow` and a capitalised `Require` included, means plaintext.
  for (const mode of ['disable', 'allow', 'Require', 'verify_full']) {
    process.env.PGSSLMODE = mode
    try {
      const byEnv = passmint.configureSequelize(make(undefined), p)
      await assert.rejects(byEnv.authenticate(), isRefused, `PGSSLMODE=${mode}`)
      await byEnv.close()
    } finally {
      delete process.env.PGSSLMODE
    }
  }
  assert.equal((await mock.requests('container')).length, 0, 'no token is minted for a refused connection')

  // node-postgres maps PGSSLMODE=require to ssl: true, which Node verifies in full: let through.
  await login(p, role)
  process.env.PGSSLMODE = 'require'
  try {
    const seq = passmint.configureSequelize(make(undefined), p)
    assertSession((await seq.query(CHECK, { type: 'SELECT' }))[0], role)
    await seq.close()
  } finally {
    delete process.env.PGSSLMODE
  }

  // Allowed: passmint stands aside and the server (hostssl only) is the one that says no.
  const allowed = passmint.configureSequelize(make({ ssl: false }), p, { allowPlaintext: true })
  await assert.rejects(allowed.authenticate(), (e) => /no encryption|pg_hba/.test(e.message))
  await allowed.close()
  assert.throws(() => passmint.configureSequelize({}, p), (e) => e.code === 'PASSMINT_INVALID_ARGUMENT')
  assert.throws(() => passmint.configureSequelize(make({ ssl }), {}), (e) => e.code === 'PASSMINT_INVALID_ARGUMENT')
})

test('configureSequelize refuses TLS that does not check the server name unless allowUnverifiedTls', async () => {
  // Review finding 5: rejectUnauthorized: false (the Sequelize snippet copied from many cloud
  // quickstarts), PGSSLMODE=no-verify and a checkServerIdentity of one's own let whoever answers
  // on the path take the token.
  const role = await newRole()
  const p = await makeProvider('dsql', role)
  const make = (dialectOptions) => new Sequelize({
    dialect: 'postgres', host: 'localhost', port: PG_PORT, database: 'postgres', username: role, dialectOptions, logging: false,
  })
  const refused = (e) => e instanceof passmint.PassmintError && e.code === 'PASSMINT_INVALID_CONFIG' &&
    /allowUnverifiedTls/.test(e.message) && /does not check that the server is the one you named/.test(e.message) &&
    /rejectUnauthorized: true/.test(e.message) && !/rejectUnauthorized: false,/.test(e.message)
  const isRefused = (e) => refused(e.original ?? e) || refused(e.parent ?? e)
  const weak = [
    { ssl: { rejectUnauthorized: false } },
    { ssl: { require: true, rejectUnauthorized: false } },
    { ssl: { ca: CA, checkServerIdentity: () => undefined } },
    undefined, // with PGSSLMODE=no-verify
  ]
  for (const dialectOptions of weak) {
    if (dialectOptions === undefined) process.env.PGSSLMODE = 'no-verify'
    try {
      const seq = passmint.configureSequelize(make(dialectOptions), p)
      let message = ''
      await assert.rejects(seq.authenticate(), (e) => { message = (e.original ?? e.parent ?? e).message; return isRefused(e) },
        JSON.stringify(dialectOptions ?? 'PGSSLMODE=no-verify'))
      if (dialectOptions?.ssl?.rejectUnauthorized === false) assert.match(message, /one-word fix: rejectUnauthorized: true/)
      await seq.close()
    } finally {
      delete process.env.PGSSLMODE
    }
  }
  assert.equal((await mock.requests('container')).length, 0, 'no token is minted for a refused connection')

  // Opted in: the caller's TLS stands and the login works.
  await login(p, role)
  for (const dialectOptions of weak) {
    if (dialectOptions === undefined) process.env.PGSSLMODE = 'no-verify'
    try {
      const seq = passmint.configureSequelize(make(dialectOptions), p, { allowUnverifiedTls: true })
      assertSession((await seq.query(CHECK, { type: 'SELECT' }))[0], role)
      await seq.close()
    } finally {
      delete process.env.PGSSLMODE
    }
  }
})

test('the refusal names the CA of the provider\'s cloud', async () => {
  const rds = passmint.rds({ host: RDS_HOST, user: 'app' })
  assert.equal(rds.serverCaBundle, 'https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem')
  assert.equal(passmint.dsql({ host: DSQL_HOST }).serverCaBundle, null)
  const seq = passmint.configureSequelize(new Sequelize({
    dialect: 'postgres', host: 'localhost', port: PG_PORT, database: 'postgres', username: 'app',
    dialectOptions: { ssl: { rejectUnauthorized: false } }, logging: false,
  }), rds)
  await assert.rejects(seq.authenticate(), (e) => /ca: <global-bundle\.pem from https:\/\/truststore/.test((e.original ?? e.parent ?? e).message))
  await seq.close()
})

test('rotation: new connections use the refreshed token and open ones keep working', async () => {
  // A 40 s token is refreshed once under 30 s of life remains (passmint never hands out less), so
  // after 21 s every new connection needs the next token, the only one the server then accepts.
  const role = await newRole()
  await mock.lifetime('azure-appservice', 40)
  const p = await makeProvider('azure', role)
  const first = await mock.queueAzureToken()
  await setPassword(role, first)
  const fetchedAt = Date.now()

  const pool = new pg.Pool(pgConfig(role, { password: p.password, max: 4 }))
  const held = await Promise.all([pool.connect(), pool.connect()])
  const sql = postgres({ host: 'localhost', port: PG_PORT, database: 'postgres', username: role, pass: p.password, ssl, max: 1 })
  const sqlPid = (await sql.unsafe(PID))[0].pid
  const heldPids = await Promise.all(held.map(async (c) => (await c.query(PID)).rows[0].pid))
  assert.equal((await mock.requests('azure-appservice')).length, 1)
  assert.equal(await p.token(), first)

  await mock.lifetime('azure-appservice', 3600)
  const second = await mock.queueAzureToken()
  await setPassword(role, second) // the cloud moved on: the first token no longer logs in
  await sleep(Math.max(0, fetchedAt + 21_000 - Date.now()))

  try {
    // New connections, through every driver, get the second token.
    const fresh = await pool.connect()
    assertSession((await fresh.query(CHECK)).rows[0], role)
    fresh.release()
    for (const [name, connect] of Object.entries(drivers)) {
      assertSession(await connect(p, role), role, name)
    }
    assert.equal(await p.token(), second)
    assert.equal((await mock.requests('azure-appservice')).length, 2)

    // The sessions opened with the first token are the same sessions, still working.
    assert.deepEqual(await Promise.all(held.map(async (c) => (await c.query(PID)).rows[0].pid)), heldPids)
    assert.equal((await sql.unsafe(PID))[0].pid, sqlPid)
  } finally {
    held.forEach((c) => c.release())
    await pool.end()
    await sql.end()
  }
})

test('postgresOptions: the role from the token, the provider\'s host and verified TLS when nothing chose', async () => {
  const role = await newRole()
  const p = await makeProvider('azure', role)
  await login(p, role)
  // A URL with neither user nor TLS: the token's role, and TLS verified against Node's roots plus
  // NODE_EXTRA_CA_CERTS (the harness CA, as a corporate bundle would be).
  const url = `postgres://localhost:${PG_PORT}/postgres`
  const options = await passmint.postgresOptions(p, url, { max: 1 })
  assert.deepEqual({ ...options, pass: typeof options.pass }, { max: 1, pass: 'function', user: role, ssl: { rejectUnauthorized: true } })
  const sql = postgres(url, options)
  try {
    assertSession((await sql.unsafe(CHECK))[0], role)
  } finally {
    await sql.end()
  }
  // A DSQL cluster given by id and region: its endpoint is the host, with no string building.
  const dsql = passmint.dsql({ host: 'abc123example', region: 'us-east-1', user: 'admin' })
  const built = await passmint.postgresOptions(dsql, { database: 'postgres' })
  assert.equal(built.host, DSQL_HOST)
  assert.equal(built.user, 'admin')
  // A host of the caller's (options, URL, PGHOST) stands.
  assert.equal((await passmint.postgresOptions(dsql, { host: 'proxy.internal' })).host, 'proxy.internal')
  assert.equal((await passmint.postgresOptions(dsql, 'postgres://proxy.internal/postgres')).host, undefined)
  process.env.PGHOST = 'proxy.internal'
  try {
    assert.equal((await passmint.postgresOptions(dsql, {})).host, undefined)
  } finally {
    delete process.env.PGHOST
  }
  // The password is the provider's; a wrong call says how to call it.
  await assert.rejects(passmint.postgresOptions(dsql, { pass: 'x' }), (e) => e.code === 'PASSMINT_INVALID_ARGUMENT' && /pass/.test(e.message))
  await assert.rejects(passmint.postgresOptions({}, {}), (e) => e.code === 'PASSMINT_INVALID_ARGUMENT')
  await assert.rejects(passmint.postgresOptions(dsql, {}, {}), (e) => e.code === 'PASSMINT_INVALID_ARGUMENT')
})

test('postgresOptions refuses plaintext and TLS that checks no name, before any token, unless opted in', async () => {
  const role = await newRole()
  const p = await makeProvider('dsql', role)
  const base = { host: 'localhost', port: PG_PORT, database: 'postgres', username: role, max: 1 }
  const url = (query) => `postgres://${role}@localhost:${PG_PORT}/postgres?${query}`
  const refusal = (optIn, pattern) => (e) => e instanceof passmint.PassmintError && e.code === 'PASSMINT_INVALID_CONFIG' &&
    e.message.includes(optIn) && pattern.test(e.message)
  const plaintext = refusal('{ allowPlaintext: true }', /without TLS/)
  const unverified = refusal('{ allowUnverifiedTls: true }', /does not check that the server is the one you named/)
  await assert.rejects(passmint.postgresOptions(p, { ...base, ssl: false }), plaintext)
  await assert.rejects(passmint.postgresOptions(p, { ...base, ssl: 'prefer' }), plaintext)
  await assert.rejects(passmint.postgresOptions(p, url('sslmode=disable')), (e) => plaintext(e) && /sslmode=disable in the URL/.test(e.message))
  await assert.rejects(passmint.postgresOptions(p, { ...base, ssl: 'require' }), (e) => unverified(e) && /require -> verify-full/.test(e.message))
  await assert.rejects(passmint.postgresOptions(p, { ...base, ssl: 'allow' }), unverified)
  await assert.rejects(passmint.postgresOptions(p, { ...base, ssl: { ca: CA, rejectUnauthorized: false } }),
    (e) => unverified(e) && /rejectUnauthorized: true/.test(e.message))
  await assert.rejects(passmint.postgresOptions(p, url('sslmode=require')), unverified)
  process.env.PGSSL = 'require'
  try {
    await assert.rejects(passmint.postgresOptions(p, base), (e) => unverified(e) && /PGSSL=require/.test(e.message))
  } finally {
    delete process.env.PGSSL
  }
  assert.equal((await mock.requests('container')).length, 0, 'no token is minted for a refused connection')

  // Chosen and verified: kept as it is.
  assert.equal((await passmint.postgresOptions(p, { ...base, ssl: 'verify-full' })).ssl, 'verify-full')
  assert.equal((await passmint.postgresOptions(p, url('sslrootcert=system'))).ssl, undefined)
  // Opted in: the caller's TLS stands and the login works; plaintext reaches the server, which says no.
  await login(p, role)
  const weak = postgres(await passmint.postgresOptions(p, { ...base, ssl: 'require', allowUnverifiedTls: true }))
  try {
    assertSession((await weak.unsafe(CHECK))[0], role)
  } finally {
    await weak.end()
  }
  const plain = await passmint.postgresOptions(p, { ...base, ssl: false, allowPlaintext: true })
  assert.ok(!('allowPlaintext' in plain))
  const sql = postgres(plain)
  try {
    await assert.rejects(sql.unsafe(CHECK), (e) => /no encryption|pg_hba/.test(e.message))
  } finally {
    await sql.end()
  }
})

test('Sequelize 7: the role from the token, verified TLS when none was chosen, and the same refusals',
  { skip: sequelize7 ? false : 'these drivers have no Sequelize 7' }, async () => {
    const role = await newRole()
    const p = await makeProvider('azure', role)
    await login(p, role)
    const make = (extra) => passmint.configureSequelize(new sequelize7.Sequelize({
      dialect: sequelize7.PostgresDialect, host: 'localhost', port: PG_PORT, database: 'postgres', logging: false, ...extra,
    }), p)
    const seq = make({})
    try {
      assertSession((await seq.query(CHECK, { type: 'SELECT' }))[0], role)
    } finally {
      await seq.close()
    }
    const refused = (pattern) => (e) => [e, e.cause, e.original, e.parent].some((x) => x instanceof passmint.PassmintError &&
      x.code === 'PASSMINT_INVALID_CONFIG' && pattern.test(x.message))
    for (const [ssl, pattern] of [[false, /allowPlaintext/], [{ rejectUnauthorized: false }, /allowUnverifiedTls/]]) {
      const weak = make({ user: role, ssl })
      try {
        await assert.rejects(weak.authenticate(), refused(pattern), JSON.stringify(ssl))
      } finally {
        await weak.close()
      }
    }
    const optedIn = passmint.configureSequelize(new sequelize7.Sequelize({
      dialect: sequelize7.PostgresDialect, host: 'localhost', port: PG_PORT, database: 'postgres', user: role, logging: false,
      ssl: { ca: CA, rejectUnauthorized: false },
    }), p, { allowUnverifiedTls: true })
    try {
      assertSession((await optedIn.query(CHECK, { type: 'SELECT' }))[0], role)
    } finally {
      await optedIn.close()
    }
  })
