// Rotation in the Node driver helpers (issue 20, item 5), against the harness PostgreSQL over
// verified TLS. configureSequelize (Sequelize 6 and 7) retries a refused password once with a
// fresh token for a source that rotates early, never for a callback, and takes the role from the
// token on each new connection. The password-callback paths (node-postgres and Knex with
// `provider.password`, Postgres.js with postgresOptions) see no refusal and do not retry: after
// `provider.passwordRefused(password)` their next connection gets a fresh token.
//
// The rig: an `exec:` source with refresh=3600 whose command counts its runs and prints a file
// the test controls. passmint caches what it printed; the test then rotates the role's password
// and the file, as an agent would.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { randomUUID } from 'node:crypto'
import { passmint, pg, postgres, Sequelize, sequelize7, knex, PG_PORT, CA, newRole, setPassword, pgConfig, closeAdmin } from './harness.mjs'

after(closeAdmin)

const WHO = 'SELECT current_user AS user'
// A regression fails here rather than waiting on a pool's acquire timeout.
const T = { timeout: 30_000 }
const ssl = { ca: CA, rejectUnauthorized: true }
// Sequelize 7 wraps in `cause` (and warns on its old `original`/`parent`), Sequelize 6 in `parent`.
const refused = (e) => [e, ...(e?.cause !== undefined ? [e.cause] : [e?.parent])].some((x) => x?.code === '28P01') &&
  /password authentication failed/.test(e.message)

const secret = () => `pw-${randomUUID()}`
const shellQuote = (s) => `'${s.replaceAll("'", "'\\''")}'`
// Strict percent-encoding: query values are only percent-decoded.
const encode = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

/** An `exec:` provider whose command counts its runs and prints `secret`'s content. */
class Rig {
  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'passmint-rotation-'))
    this.secret = path.join(this.dir, 'secret')
    this.counter = path.join(this.dir, 'runs')
    fs.writeFileSync(this.counter, '')
  }

  provider(params = {}) {
    const cmd = `echo run >> ${shellQuote(this.counter)}; cat ${shellQuote(this.secret)}`
    const extra = Object.entries({ shell: 'true', refresh: '3600', ...params }).map(([k, v]) => `&${k}=${encode(v)}`).join('')
    return new passmint.Provider(`exec:?cmd=${encode(cmd)}${extra}`)
  }

  runs() {
    return fs.readFileSync(this.counter, 'utf8').split('\n').filter(Boolean).length
  }

  /** What the agent writes (an atomic replace): the password, or JSON naming the user too. */
  write(password, username) {
    const tmp = `${this.secret}.tmp`
    fs.writeFileSync(tmp, `${username === undefined ? password : JSON.stringify({ username, password })}\n`)
    fs.renameSync(tmp, this.secret)
  }
}

/** A rig whose provider cached `old` for `role`; the role's password and the file are then `new`. */
async function rotated(role) {
  const rig = new Rig()
  const old = secret()
  const fresh = secret()
  await setPassword(role, old)
  rig.write(old)
  const p = rig.provider({ user: role })
  assert.equal(await p.token(), old)
  await setPassword(role, fresh)
  rig.write(fresh)
  return { rig, p, old, fresh }
}

const sequelizes = {
  'Sequelize 6': (p, extra = {}) => passmint.configureSequelize(new Sequelize({
    dialect: 'postgres', host: 'localhost', port: PG_PORT, database: 'postgres', dialectOptions: { ssl }, logging: false, ...extra,
  }), p),
  ...(sequelize7 && {
    'Sequelize 7': (p, extra = {}) => passmint.configureSequelize(new sequelize7.Sequelize({
      dialect: sequelize7.PostgresDialect, host: 'localhost', port: PG_PORT, database: 'postgres', ssl, logging: false, ...extra,
    }), p),
  }),
}

const who = async (seq, options = {}) => (await seq.query(WHO, { type: 'SELECT', ...options }))[0].user

for (const [name, make] of Object.entries(sequelizes)) {
  test(`${name}: a password rotated before its refresh is refused once, then read again`, T, async () => {
    const role = await newRole()
    const { rig, p, fresh } = await rotated(role)
    const seq = make(p)
    try {
      assert.equal(await who(seq), role)
    } finally {
      await seq.close()
    }
    assert.equal(rig.runs(), 2)
    assert.equal(await p.token(), fresh)
  })

  test(`${name}: connections refused at once make one new read`, T, async () => {
    const role = await newRole()
    const { rig, p } = await rotated(role)
    const seq = make(p, { pool: { max: 6, min: 0 } })
    try {
      // Six transactions hold six connections, opened at once with the cached old password.
      const users = await Promise.all(Array.from({ length: 6 }, () => seq.transaction(async (t) => {
        const user = await who(seq, { transaction: t })
        await seq.query('SELECT pg_sleep(0.2)', { transaction: t })
        return user
      })))
      assert.deepEqual(users, Array(6).fill(role))
    } finally {
      await seq.close()
    }
    assert.equal(rig.runs(), 2)
  })

  test(`${name}: a second refusal is thrown after one retry`, T, async () => {
    const role = await newRole()
    const rig = new Rig()
    rig.write(secret())
    await setPassword(role, secret())
    const seq = make(rig.provider({ user: role }))
    try {
      await assert.rejects(seq.authenticate(), refused)
    } finally {
      await seq.close()
    }
    assert.equal(rig.runs(), 2)
  })

  test(`${name}: a refused callback token is not retried`, T, async () => {
    const role = await newRole()
    await setPassword(role, secret())
    let calls = 0
    const p = passmint.Provider.fromFunction(() => {
      calls++
      return { token: secret(), expiresAt: Date.now() / 1000 + 3600, username: role }
    })
    const seq = make(p)
    try {
      await assert.rejects(seq.authenticate(), refused)
    } finally {
      await seq.close()
    }
    assert.equal(calls, 1)
    assert.equal(p.status().cached, true)
  })

  test(`${name}: the next connection logs in as the user a new lease names`, T, async () => {
    const role = await newRole()
    const next = await newRole()
    const rig = new Rig()
    const old = secret()
    await setPassword(role, old)
    rig.write(old, role)
    const p = rig.provider()
    const seq = make(p, { pool: { max: 2, min: 0 } })
    let held
    try {
      // An unmanaged transaction keeps the first connection, of the old lease.
      held = await (seq.startUnmanagedTransaction ? seq.startUnmanagedTransaction() : seq.transaction())
      assert.equal(await who(seq, { transaction: held }), role)

      const fresh = secret()
      await setPassword(next, fresh)
      await setPassword(role, secret()) // the old lease is revoked
      rig.write(fresh, next)
      assert.equal(await who(seq), next) // a new connection: refused once, then the new role
      assert.equal(await who(seq, { transaction: held }), role)
    } finally {
      await held?.rollback().catch(() => {})
      await seq.close()
    }
    assert.equal(rig.runs(), 2)
  })
}

// --- the password-callback paths: no hook sees the refusal, so no retry --------------------------

test('node-postgres and Knex with provider.password: refused without a retry, fresh after passwordRefused', T, async () => {
  const role = await newRole()
  const { rig, p, old } = await rotated(role)

  const client = new pg.Client(pgConfig(role, { password: p.password }))
  await assert.rejects(client.connect(), refused)
  assert.equal(rig.runs(), 1, 'nothing told the provider')
  // node-postgres keeps the password it sent: what to hand passwordRefused.
  assert.equal(client.password, old)
  assert.equal(p.passwordRefused(client.password), true)

  const again = new pg.Client(pgConfig(role, { password: p.password }))
  await again.connect()
  try {
    assert.equal((await again.query(WHO)).rows[0].user, role)
  } finally {
    await again.end()
  }
  assert.equal(rig.runs(), 2)

  const db = knex({ client: 'pg', connection: { ...pgConfig(role), password: p.password }, pool: { min: 0, max: 1 } })
  try {
    assert.equal((await db.raw(WHO)).rows[0].user, role)
  } finally {
    await db.destroy()
  }
  assert.equal(rig.runs(), 2)
})

test('Postgres.js with postgresOptions: refused without a retry, the next connection fresh after passwordRefused', T, async () => {
  const role = await newRole()
  const { rig, p, old } = await rotated(role)
  const sql = postgres(await passmint.postgresOptions(p, { host: 'localhost', port: PG_PORT, database: 'postgres', ssl, max: 1 }))
  try {
    await assert.rejects(sql.unsafe(WHO), refused)
    assert.equal(rig.runs(), 1)
    assert.equal(p.passwordRefused(old), true)
    assert.equal((await sql.unsafe(WHO))[0].user, role)
  } finally {
    await sql.end()
  }
  assert.equal(rig.runs(), 2)
})

test('passwordRefused says no for a callback, and drops nothing', T, async () => {
  const p = passmint.Provider.fromFunction(() => ({ token: 'cb-token', expiresAt: Date.now() / 1000 + 3600 }))
  assert.equal(await p.token(), 'cb-token')
  assert.equal(p.passwordRefused('cb-token'), false)
  assert.equal(p.status().cached, true)
})
