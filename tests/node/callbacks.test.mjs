// Provider.fromFunction: a function of the caller's (sync or async) as a token source, behind the
// core's cache: one call for 1,000 cold callers, typed errors with the function's own message, the
// deadline for a function that never settles, and the cached token served while refreshes fail.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { passmint, pg, newRole, setPassword, pgConfig, closeAdmin } from './harness.mjs'

after(closeAdmin)

const { Provider, PassmintError } = passmint
const now = () => Math.floor(Date.now() / 1000)
const rejectsWith = (code, pattern) => (e) => {
  assert.ok(e instanceof PassmintError, String(e))
  assert.equal(e.code, code)
  if (pattern) assert.match(e.message, pattern)
  return true
}

test('a function logs into PostgreSQL, and 1,000 cold callers call it once', async () => {
  const role = await newRole()
  const secret = 'cb-' + crypto.randomBytes(24).toString('base64url')
  await setPassword(role, secret)
  let calls = 0
  const p = Provider.fromFunction(async function mint () {
    calls++
    await sleep(200)
    return { token: secret, expiresAt: now() + 3600, username: role }
  })
  const all = await Promise.all(Array.from({ length: 1000 }, () => p.token()))
  assert.equal(new Set(all).size, 1)
  assert.equal(calls, 1)
  const info = await p.tokenInfo()
  assert.equal(info.provider, 'callback')
  assert.equal(info.username, role)
  const client = new pg.Client(pgConfig(role, { password: p.password }))
  await client.connect()
  assert.equal((await client.query('SELECT current_user AS u')).rows[0].u, role)
  await client.end()
  assert.equal(p.status().credential, 'token callback (mint)')
})

test('sync functions and Dates work; wrong answers are PASSMINT_PROVIDER_RESPONSE', async () => {
  const at = new Date((now() + 3600) * 1000)
  assert.equal(await Provider.fromFunction(() => ({ token: 'sync', expiresAt: at })).token(), 'sync')
  const wrong = [
    [() => null, /returned null/],
    [() => 'a string', /returned string/],
    [() => ({ expiresAt: now() + 3600 }), /token that is missing/],
    [() => ({ token: 't', expiresAt: 'soon' }), /expiresAt that is string/],
    [() => ({ token: 't', expiresAt: Date.now() + 3_600_000 }), /milliseconds/],
    [() => ({ token: '', expiresAt: now() + 3600 }), /empty token/],
  ]
  for (const [fn, pattern] of wrong) {
    await assert.rejects(Provider.fromFunction(fn).token(), rejectsWith('PASSMINT_PROVIDER_RESPONSE', pattern))
  }
  assert.throws(() => Provider.fromFunction('nope'), rejectsWith('PASSMINT_INVALID_ARGUMENT'))
})

test('what the function throws reaches the caller with its message, no secret in it', async () => {
  const leaked = 'eyJhbGciOiJSUzI1NiJ9.' + 'A'.repeat(60) + '.sig'
  const p = Provider.fromFunction(async () => { throw new TypeError(`vault sealed; last token ${leaked}`) })
  await assert.rejects(p.token(), rejectsWith('PASSMINT_PROVIDER_RESPONSE', /the token function threw TypeError: vault sealed/))
  await assert.rejects(p.token(), (e) => !e.message.includes(leaked) && !e.message.includes('A'.repeat(20)))
  const denied = Provider.fromFunction(() => { throw new PassmintError('PASSMINT_AUTHENTICATION_FAILED', 'role locked') })
  await assert.rejects(denied.token(), rejectsWith('PASSMINT_AUTHENTICATION_FAILED', /role locked/))
  assert.equal(denied.status().lastErrorKind, 'AUTHENTICATION_FAILED')
})

test('a function that never settles is PASSMINT_TIMEOUT at the deadline', async () => {
  const p = Provider.fromFunction(() => new Promise(() => {}))
  const started = Date.now()
  await assert.rejects(p.token(), rejectsWith('PASSMINT_TIMEOUT'))
  assert.ok(Date.now() - started < 11_500, `${Date.now() - started} ms`)
})

test('a failing refresh serves the valid token, and status() shows the failure', async () => {
  // An 80 s token is refreshed at 40 s and served until 50 s (cache rules 3 and 4).
  let fail = false
  const p = Provider.fromFunction(async () => {
    if (fail) throw new Error('identity service down')
    return { token: 'still-good', expiresAt: now() + 80 }
  })
  assert.equal(await p.token(), 'still-good')
  fail = true
  await sleep(40_500)
  assert.equal(await p.token(), 'still-good')
  for (let i = 0; i < 100 && p.status().consecutiveFailures === 0; i++) await sleep(50)
  const s = p.status()
  assert.equal(s.cached, true)
  assert.ok(s.consecutiveFailures >= 1)
  assert.equal(s.lastErrorKind, 'PROVIDER_RESPONSE')
  assert.match(s.lastErrorMessage, /identity service down/)
  assert.equal(await p.token(), 'still-good')
})

// --- AWS credentials the caller holds: an @aws-sdk credential provider as it is ---------------

const { createRequire } = await import('node:module')
const requireTest = createRequire(new URL('../package.json', import.meta.url))
const { fromIni } = requireTest('@aws-sdk/credential-providers')
const { DsqlSigner } = requireTest('@aws-sdk/dsql-signer')
const fs = await import('node:fs')
const os = await import('node:os')
const pathMod = await import('node:path')

const DSQL = 'abc123example.dsql.us-east-1.on.aws'
const query = (token) => Object.fromEntries(new URL(`https://${token}`).searchParams)

test('an @aws-sdk fromIni provider signs the same token as the DSQL signer', async () => {
  const dir = fs.mkdtempSync(pathMod.join(os.tmpdir(), 'passmint-ini-'))
  const credentialsFile = pathMod.join(dir, 'credentials')
  fs.writeFileSync(credentialsFile, '[team]\naws_access_key_id = AKIAFROMINI000000001\naws_secret_access_key = fromIniSecret/abc+1\n')
  const provider = fromIni({ profile: 'team', filepath: credentialsFile, configFilepath: pathMod.join(dir, 'none') })
  for (let attempt = 0; attempt < 5; attempt++) {
    const second = now()
    const ours = await passmint.dsql({ host: DSQL, credentials: provider }).token()
    const ref = await new DsqlSigner({ hostname: DSQL, region: 'us-east-1', credentials: provider }).getDbConnectAdminAuthToken()
    if (now() !== second) continue
    assert.deepEqual(query(ours), query(ref))
    return
  }
  assert.fail('could not mint both tokens within one second in 5 tries')
})

test('a credentials function bounds the token, is called once, and its errors are typed', async () => {
  let calls = 0
  const expiration = new Date((now() + 600) * 1000)
  const p = passmint.dsql({
    host: DSQL,
    user: 'app',
    credentials: async () => {
      calls++
      return { accessKeyId: 'ASIACALLER0000000003', secretAccessKey: 's3cr3t', sessionToken: 'js/session+token=', expiration }
    },
  })
  const tokens = await Promise.all(Array.from({ length: 10 }, () => p.token()))
  assert.equal(new Set(tokens).size, 1)
  assert.equal(calls, 1)
  assert.equal((await p.tokenInfo()).expiresAt.getTime(), expiration.getTime())
  assert.equal(query(tokens[0])['X-Amz-Security-Token'], 'js/session+token=')
  assert.equal(p.status().credential, 'AWS credentials (Caller)')

  const fixed = passmint.rds({ host: 'db.abc123example.eu-west-1.rds.amazonaws.com', user: 'app',
    credentials: { accessKeyId: 'AKIAFIXED00000000004', secretAccessKey: 'fixed' } })
  assert.match(await fixed.token(), /X-Amz-Credential=AKIAFIXED00000000004%2F/)

  const expired = passmint.dsql({ host: DSQL, credentials: async () => { throw new Error('SSO session expired') } })
  await assert.rejects(expired.token(), rejectsWith('PASSMINT_PROVIDER_RESPONSE', /the AWS credential provider threw Error: SSO session expired/))
  const shapeless = passmint.dsql({ host: DSQL, credentials: async () => ({ accessKeyId: 'x' }) })
  await assert.rejects(shapeless.token(), rejectsWith('PASSMINT_PROVIDER_RESPONSE', /lack accessKeyId or secretAccessKey/))
  assert.throws(() => passmint.dsql({ host: DSQL, credentials: 'AKIA' }), rejectsWith('PASSMINT_INVALID_ARGUMENT'))
})

test('configureSequelize refuses a token that names no role instead of using the OS user', async () => {
  const { Sequelize } = requireTest('sequelize')
  const { PG_PORT, CA } = await import('./harness.mjs')
  const saved = process.env.PGUSER
  delete process.env.PGUSER
  const p = Provider.fromFunction(() => ({ token: 'no-role-token', expiresAt: now() + 3600 }))
  const sequelize = new Sequelize({ dialect: 'postgres', host: 'localhost', port: PG_PORT, database: 'postgres',
    logging: false, dialectOptions: { ssl: { ca: CA, rejectUnauthorized: true } } })
  passmint.configureSequelize(sequelize, p)
  try {
    await assert.rejects(sequelize.authenticate(), (e) => {
      const cause = e.original ?? e.parent ?? e
      return /names no database role/.test(String(cause.message ?? e.message))
    })
  } finally {
    await sequelize.close()
    if (saved !== undefined) process.env.PGUSER = saved
  }
})

test('Provider.fromAzureCredential: an @azure/identity credential drives an azure provider', async () => {
  const { ManagedIdentityCredential } = requireTest('@azure/identity')
  const { mock } = await import('./harness.mjs')
  const role = await newRole()
  await mock.config({ azure_app_name: role }) // App Service (IDENTITY_ENDPOINT) is the harness's
  try {
    const p = Provider.fromAzureCredential(new ManagedIdentityCredential())
    const token = await p.tokenInfo()
    assert.equal(token.provider, 'azure')
    assert.equal(token.username, role, 'the role from the claims')
    await setPassword(role, token.secret)
    const client = new pg.Client(pgConfig(role, { password: p.password }))
    await client.connect()
    assert.equal((await client.query('SELECT current_user AS u')).rows[0].u, role)
    await client.end()
    const named = Provider.fromAzureCredential(new ManagedIdentityCredential(), { user: 'explicit_role' })
    assert.equal((await named.tokenInfo()).username, 'explicit_role')
    assert.throws(() => Provider.fromAzureCredential(new ManagedIdentityCredential(), { cloud: 'mars' }),
      (e) => e.code === 'PASSMINT_INVALID_CONFIG')
    assert.throws(() => Provider.fromAzureCredential({}), (e) => e.code === 'PASSMINT_INVALID_ARGUMENT')
  } finally {
    await mock.config({ azure_app_name: 'app' })
  }
})
