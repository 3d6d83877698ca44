// The Node API (issue 6, docs/DESIGN.md §5): constructors, token/tokenSync/tokenInfo, errors, the cache
// seen from JS (one identity request for 1,000 cold callers), deadlines that leave the event loop
// running, and no secret in any message or inspect output.

import { test, beforeEach, after } from 'node:test'
import assert from 'node:assert/strict'
import util from 'node:util'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { passmint, mock, KINDS, ROUTE, DSQL_HOST, RDS_HOST, makeProvider, assertNoSecrets, closeAdmin, PACKAGE_DIR } from './harness.mjs'

const { Provider, PassmintError, Token } = passmint

beforeEach(() => mock.reset())
after(closeAdmin)

function rejectsWith(code) {
  return (e) => {
    assert.ok(e instanceof PassmintError, `not a PassmintError: ${util.inspect(e)}`)
    assert.ok(e instanceof Error)
    assert.equal(e.code, code, e.message)
    assert.equal(e.name, 'PassmintError')
    return true
  }
}

test('the ES module entry point exports the very objects require() does', async () => {
  const esm = await import(pathToFileURL(path.join(PACKAGE_DIR, 'index.mjs')).href)
  for (const name of ['Provider', 'PassmintError', 'Token', 'azure', 'dsql', 'rds', 'gcp', 'vault', 'awssm',
    'configureSequelize', 'postgresOptions', 'pgOptions', 'mikroOrm6DriverOptions', 'version']) {
    assert.equal(esm[name], passmint[name], name)
  }
  assert.equal(esm.default, passmint)
  assert.match(passmint.version, /^\d+\.\d+\.\d+/)
})

test('typed constructors build the provider their URL would', () => {
  const d = passmint.dsql({ host: DSQL_HOST })
  assert.equal(d.kind, 'dsql')
  assert.equal(d.username, 'admin') // DSQL's default role
  const r = passmint.rds({ host: RDS_HOST, port: 6543, user: 'app' })
  assert.equal(r.kind, 'rds')
  assert.equal(r.username, 'app')
  const a = passmint.azure({ credential: 'managed', clientId: '00000000-0000-0000-0000-000000000001', user: 'me@x' })
  assert.equal(a.kind, 'azure')
  assert.equal(a.username, 'me@x')
  assert.equal(passmint.azure().username, null)
  assert.equal(new Provider(`dsql://${DSQL_HOST}?user=app`).username, 'app')
  // Query values are percent-encoded: a value cannot smuggle in a second parameter.
  assert.equal(passmint.azure({ user: 'a&credential=cli' }).username, 'a&credential=cli')
})

test('azure scope: the database scopes, anything else only with allowCustomScope', () => {
  assert.equal(passmint.azure({ scope: 'https://ossrdbms-aad.database.usgovcloudapi.net/.default' }).kind, 'azure')
  assert.throws(() => passmint.azure({ scope: 'https://vault.azure.net/.default' }),
    (e) => e.code === 'PASSMINT_INVALID_CONFIG' && /allow_custom_scope/.test(e.message))
  assert.equal(passmint.azure({ scope: 'api://pgproxy/.default', allowCustomScope: true }).kind, 'azure')
  assert.throws(() => passmint.azure({ scope: 'api://pgproxy/.default', allowCustomScope: false }),
    (e) => e.code === 'PASSMINT_INVALID_CONFIG')
})

test('tokenSync inside a callback of a cold token() fetches at once (review finding 4)', async () => {
  // JS callbacks run on the JS thread, never on passmint's: a blocking get there is a plain fetch.
  const outer = await makeProvider('dsql', 'app')
  const inner = await makeProvider('rds', 'app')
  const took = await outer.token().then(() => {
    const started = performance.now()
    inner.tokenSync()
    return performance.now() - started
  })
  assert.ok(took < 2000, `${took} ms`)
})

test('forPostgresUrl picks the provider from the host', () => {
  assert.equal(Provider.forPostgresUrl(`postgresql://app@${DSQL_HOST}/postgres`).kind, 'dsql')
  const r = Provider.forPostgresUrl(`postgres://svc@${RDS_HOST}:5433/db`)
  assert.equal(r.kind, 'rds')
  assert.equal(r.username, 'svc')
  assert.equal(Provider.forPostgresUrl('postgresql://me@srv.postgres.database.azure.com/db').kind, 'azure')
  assert.throws(() => Provider.forPostgresUrl('postgresql://app@localhost/db'), rejectsWith('PASSMINT_INVALID_CONFIG'))
})

test('bad input is a typed error, never a crash', () => {
  const cases = [
    [() => new Provider('bogus://x'), 'PASSMINT_INVALID_CONFIG'],
    [() => new Provider(''), 'PASSMINT_INVALID_CONFIG'],
    [() => new Provider('dsql://cluster-without-region'), 'PASSMINT_INVALID_CONFIG'],
    [() => new Provider('rds://db.example.com?user=app'), 'PASSMINT_INVALID_CONFIG'], // no silent us-east-1
    [() => new Provider('azure://?credential=bogus'), 'PASSMINT_INVALID_CONFIG'],
    [() => new Provider('x'.repeat(1 << 20)), 'PASSMINT_INVALID_CONFIG'],
    [() => new Provider('dsql://\u0000'), 'PASSMINT_INVALID_CONFIG'],
    [() => new Provider(42), 'PASSMINT_INVALID_ARGUMENT'],
    [() => new Provider(), 'PASSMINT_INVALID_ARGUMENT'],
    [() => new Provider(null), 'PASSMINT_INVALID_ARGUMENT'],
    [() => Provider.forPostgresUrl({}), 'PASSMINT_INVALID_ARGUMENT'],
    [() => passmint.dsql({ host: DSQL_HOST, regoin: 'x' }), 'PASSMINT_INVALID_ARGUMENT'],
    [() => passmint.dsql({ host: 'a/b?user=x' }), 'PASSMINT_INVALID_ARGUMENT'],
    [() => passmint.dsql(), 'PASSMINT_INVALID_ARGUMENT'],
    [() => passmint.rds({ host: RDS_HOST, user: 'a', port: 70000 }), 'PASSMINT_INVALID_ARGUMENT'],
    [() => passmint.rds({ host: RDS_HOST }), 'PASSMINT_INVALID_CONFIG'], // user is signed in: required
    [() => passmint.azure({ clientId: {} }), 'PASSMINT_INVALID_ARGUMENT'],
    [() => passmint.azure({ host: DSQL_HOST }), 'PASSMINT_INVALID_ARGUMENT'],
    [() => passmint.dsql({ host: DSQL_HOST, port: 5432 }), 'PASSMINT_INVALID_ARGUMENT'],
  ]
  for (const [make, code] of cases) assert.throws(make, rejectsWith(code), make.toString())
  // A URL passed as a host by mistake may carry a password: it is not echoed.
  assert.throws(() => passmint.dsql({ host: 'postgres://u:hunter2-secret@x/db' }), (e) => rejectsWith('PASSMINT_INVALID_ARGUMENT')(e) && !e.message.includes('hunter2'))
})

for (const kind of KINDS) {
  test(`${kind}: token(), tokenSync() and tokenInfo() agree, and inspect hides the secret`, async () => {
    const p = await makeProvider(kind, 'app_role')
    const token = await p.token()
    assert.equal(typeof token, 'string')
    assert.ok(token.length > 20)
    assert.equal(p.tokenSync(), token)
    assert.equal(await p.password(), token)
    const { password } = p // detached, as drivers hold it
    assert.equal(await password(), token)

    const info = await p.tokenInfo()
    assert.ok(info instanceof Token)
    assert.equal(info.secret, token)
    assert.ok(info.expiresAt instanceof Date)
    assert.ok(info.expiresAt.getTime() > Date.now() + 60_000)
    assert.equal(info.provider, kind)
    assert.equal(info.username, 'app_role') // signed (AWS) or from xms_mirid (managed identity)
    assert.equal(p.tokenInfoSync().secret, token)
    assert.equal(await p.tokenInfo(), info, 'the same Token object while the token is unchanged')
    // Shared, so immutable.
    assert.throws(() => { info.username = 'someone else' }, TypeError)
    info.expiresAt.setTime(0)
    assert.ok(info.expiresAt.getTime() > Date.now())

    const shown = [util.inspect(info), util.inspect(info, { showHidden: true, depth: 5 }), String(info),
      JSON.stringify(info), util.inspect(p, { showHidden: true }), String(p), util.format('%o %O %j', info, info, info)]
    for (const text of shown) assert.ok(!text.includes(token), text)
    assert.match(util.inspect(info), new RegExp(`Token\\(${kind}, username=app_role, expiresAt=`))
    assert.equal((await mock.requests(ROUTE[kind])).length, 1)
    await assertNoSecrets(shown.join('\n'), [token])
  })

  test(`${kind}: 1,000 concurrent token() calls on a cold cache make one identity request`, async () => {
    await mock.fault(ROUTE[kind], { delay: 0.3, times: 1 }) // everyone arrives while it is in flight
    const p = await makeProvider(kind, 'storm')
    const tokens = await Promise.all(Array.from({ length: 1000 }, () => p.token()))
    assert.equal(new Set(tokens).size, 1)
    assert.equal((await mock.requests(ROUTE[kind])).length, 1)
    // And now from the cache, on this thread.
    assert.equal(await p.token(), tokens[0])
    assert.equal((await mock.requests(ROUTE[kind])).length, 1)
  })
}

function worker(body) {
  return new Worker(
    `const { parentPort, workerData } = require('node:worker_threads'); const pm = require(workerData.pkg); ${body}`,
    { eval: true, workerData: { pkg: PACKAGE_DIR, host: DSQL_HOST } })
}

test('worker threads load the addon', async () => {
  const ok = worker(`const p = pm.dsql({ host: workerData.host })
    p.token().then((t) => parentPort.postMessage({ length: t.length, same: p.tokenSync() === t, kind: p.kind }))`)
  const [reply] = await once(ok, 'message')
  assert.deepEqual({ ...reply, length: reply.length > 100 }, { length: true, same: true, kind: 'dsql' })
  await ok.terminate()
})

test('a hung endpoint rejects with PASSMINT_TIMEOUT at the deadline while the event loop keeps running', async () => {
  await mock.fault('azure-appservice', { hang: true })
  // A worker asks too and is terminated mid-fetch: its promise is settled (at its deadline, just
  // before ours) into an environment that no longer exists, which must be a no-op.
  const doomed = worker(`pm.azure({ credential: 'managed' }).token().catch(() => {}); parentPort.postMessage('asked')`)
  await once(doomed, 'message')
  await doomed.terminate()
  const p = passmint.azure({ credential: 'managed' })
  let ticks = 0
  const timer = setInterval(() => ticks++, 50)
  const started = performance.now()
  try {
    await assert.rejects(p.token(), rejectsWith('PASSMINT_TIMEOUT'))
  } finally {
    clearInterval(timer)
  }
  const seconds = (performance.now() - started) / 1000
  assert.ok(seconds >= 9 && seconds < 13, `took ${seconds}s`)
  assert.ok(ticks >= 150, `the loop ticked only ${ticks} times in ${seconds}s`)
  await sleep(500) // past the worker's deadline too
  assert.equal(typeof (await passmint.dsql({ host: DSQL_HOST }).token()), 'string')
})

test('identity endpoint failures are typed, on every path, and carry no secret', async () => {
  const p = passmint.azure({ credential: 'managed' })
  for (const [status, code] of [[401, 'PASSMINT_AUTHENTICATION_FAILED'], [500, 'PASSMINT_PROVIDER_RESPONSE']]) {
    await mock.reset()
    await mock.fault('azure-appservice', { status })
    const fresh = passmint.azure({ credential: 'managed' })
    const errors = []
    await assert.rejects(fresh.token(), (e) => errors.push(e) && rejectsWith(code)(e))
    await assert.rejects(fresh.tokenInfo(), (e) => errors.push(e) && rejectsWith(code)(e))
    assert.throws(() => fresh.tokenSync(), (e) => errors.push(e) && rejectsWith(code)(e))
    assert.throws(() => fresh.tokenInfoSync(), (e) => errors.push(e) && rejectsWith(code)(e))
    // The stack points at the caller, not at a native frame.
    assert.match(errors[0].stack, /api\.test\.mjs/)
    await assertNoSecrets(errors.map((e) => `${e.message}\n${e.stack}\n${util.inspect(e)}`).join('\n'))
  }
  await mock.reset()
  await mock.fault('azure-appservice', { body: 'this is not json' })
  await assert.rejects(p.token(), rejectsWith('PASSMINT_PROVIDER_RESPONSE'))
})

test('no credential of the requested kind: PASSMINT_CREDENTIAL_UNAVAILABLE with the fix', async () => {
  const p = passmint.azure({ credential: 'cli' }) // no `az` on this PATH
  await assert.rejects(p.token(), (e) => rejectsWith('PASSMINT_CREDENTIAL_UNAVAILABLE')(e) && /az login/.test(e.message))
})

test('a provider is safe to share across many async callers while its token is refreshed', async () => {
  await mock.lifetime('container', 3600)
  const p = passmint.dsql({ host: DSQL_HOST })
  const first = await p.token()
  const again = await Promise.all(Array.from({ length: 100 }, () => p.tokenInfo()))
  assert.ok(again.every((t) => t.secret === first))
  assert.equal((await mock.requests('container')).length, 1)
})

test('status(): the cached token, the credential in use, and failing fetches', async () => {
  const p = passmint.dsql({ host: DSQL_HOST, user: 'app' })
  assert.deepEqual(p.status(), {
    cached: false, expiresAt: null, nextRefreshAt: null, consecutiveFailures: 0,
    lastErrorKind: null, lastErrorMessage: null, credential: null,
  })
  const info = await p.tokenInfo()
  const s = p.status()
  assert.equal(s.cached, true)
  assert.equal(s.expiresAt, info.expiresAt.getTime() / 1000)
  assert.ok(Date.now() / 1000 < s.nextRefreshAt && s.nextRefreshAt < s.expiresAt)
  assert.equal(s.credential, 'AWS credentials (EcsContainer)')

  await mock.fault('azure-appservice', { status: 503, times: 1 })
  const azure = passmint.azure({ credential: 'managed' })
  await assert.rejects(azure.token(), rejectsWith('PASSMINT_PROVIDER_RESPONSE'))
  const failed = azure.status()
  assert.equal(failed.cached, false)
  assert.equal(failed.consecutiveFailures, 1)
  assert.equal(failed.lastErrorKind, 'PROVIDER_RESPONSE')
  assert.match(failed.lastErrorMessage, /503/)
  assert.equal(failed.credential, 'managed identity (App Service)')
  await sleep(Math.max(0, failed.nextRefreshAt * 1000 - Date.now()) + 1100) // the backoff
  await azure.token()
  assert.equal(azure.status().consecutiveFailures, 0)
  await assertNoSecrets(JSON.stringify([s, failed]))
})

test('host, fromEnv, the AWS signers\' option names, and token({ signal })', async () => {
  const p = passmint.dsql({ host: 'abc123example', region: 'us-east-1' })
  assert.equal(p.host, 'abc123example.dsql.us-east-1.on.aws')
  assert.equal(passmint.azure({ credential: 'managed' }).host, null)
  const signer = passmint.dsql({ hostname: DSQL_HOST, username: 'app', tokenDurationSecs: 600 })
  assert.equal(signer.host, DSQL_HOST)
  assert.equal(signer.username, 'app')
  assert.match(await signer.token(), /X-Amz-Expires=600&/)
  const rdsSigner = passmint.rds({ hostname: RDS_HOST, username: 'app', port: 5432 })
  assert.equal(rdsSigner.host, RDS_HOST)
  assert.throws(() => passmint.dsql({ host: DSQL_HOST, hostname: DSQL_HOST }),
    (e) => e.code === 'PASSMINT_INVALID_ARGUMENT' && /host or hostname/.test(e.message))

  process.env.PASSMINT_PROVIDER = `dsql://${DSQL_HOST}?user=env_role`
  try {
    assert.equal(passmint.Provider.fromEnv().username, 'env_role')
  } finally {
    delete process.env.PASSMINT_PROVIDER
  }
  assert.throws(() => passmint.Provider.fromEnv(), (e) => e.code === 'PASSMINT_INVALID_CONFIG')

  await mock.fault('azure-appservice', { delay: 2, times: 1 })
  const slow = passmint.azure({ credential: 'managed' })
  const controller = new AbortController()
  const waiting = slow.token({ signal: controller.signal })
  setTimeout(() => controller.abort(new Error('gave up')), 100)
  const started = Date.now()
  await assert.rejects(waiting, /gave up/)
  assert.ok(Date.now() - started < 1000)
  assert.equal(typeof (await slow.token()), 'string', 'the shared fetch went on')
  await assert.rejects(slow.tokenInfo({ signal: AbortSignal.abort(new Error('already')) }), /already/)
})

test('vault() and awssm() build what their URLs would; a refused password is retried only for secret sources', () => {
  const v = passmint.vault({ path: 'database/creds/app', host: 'vault.example.com', port: 8200, auth: 'kubernetes', role: 'web' })
  assert.equal(v.kind, 'vault')
  const s = passmint.awssm({ secretId: 'prod/app/db', region: 'eu-west-2', versionStage: 'AWSPENDING' })
  assert.equal(s.kind, 'awssm')
  assert.throws(() => passmint.vault({ path: 'database/app' }), rejectsWith('PASSMINT_INVALID_CONFIG'))
  assert.throws(() => passmint.vault({}), rejectsWith('PASSMINT_INVALID_ARGUMENT'))
  assert.throws(() => passmint.awssm({ secretId: 'x', region: 'eu-west-2', refresh: 0 }), rejectsWith('PASSMINT_INVALID_CONFIG'))
  assert.equal(v.passwordRefused('anything'), true)
  assert.equal(passmint.rds({ host: RDS_HOST, user: 'app' }).passwordRefused('anything'), false)
  v.invalidate()
  assert.equal(v.status().cached, false)
})

test('an exec: token is dropped once when refused, and invalidate() drops it', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'passmint-node-exec-'))
  const counter = path.join(dir, 'n')
  const cmd = `n=$(cat ${counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${counter}; echo node-pw-$n`
  const p = new Provider(`exec:?shell=true&cmd=${encodeURIComponent(cmd)}`)
  const first = await p.token()
  assert.equal(first, 'node-pw-1')
  assert.deepEqual([1, 2, 3].map(() => p.passwordRefused(first)), [true, true, true])
  assert.equal(await p.token(), 'node-pw-2')
  p.invalidate()
  assert.equal(await p.token(), 'node-pw-3')
  assert.equal((await p.tokenInfo()).provider, 'exec')
  fs.rmSync(dir, { recursive: true, force: true })
})
