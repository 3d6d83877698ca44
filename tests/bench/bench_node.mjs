// Node benchmarks for issue 6, measured in one run and printed as JSON (tests/bench/bench_report.py
// turns them into BENCHMARKS.md):
//
// - cached `tokenSync()` (target ≤ 1 µs) and `await token()` on a warm cache (target ≤ 2 µs);
// - @aws-sdk/dsql-signer `getDbConnectAdminAuthToken` (it signs on every call) vs passmint's
//   cached DSQL `token()`, same host, region and static credentials with a session token;
// - @azure/identity's cached `ManagedIdentityCredential.getToken` (App Service, against the
//   harness mock) vs passmint's cached Azure `token()`;
// - google-auth-library's cached `getAccessToken()` (a service account key, against the harness
//   mock) vs passmint's cached Google `token()`;
// - `require()` time and RSS in a fresh node process, beside the two peers.
//
// Needs IDENTITY_ENDPOINT and IDENTITY_HEADER pointing at the mock, GOOGLE_APPLICATION_CREDENTIALS a
// key it knows and PASSMINT_TEST_MOCK_HTTPS its https URL; nothing leaves loopback:
//
//   tests/run build/venv/bin/python tests/bench/bench_report.py      (what `make bench` runs)

import { createRequire } from 'node:module'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { googleAuthClient } from './google_peer.mjs'

const TOP = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const require = createRequire(path.join(TOP, 'tests', 'package.json'))
const PACKAGE = process.env.PASSMINT_NODE_PACKAGE ?? path.join(TOP, 'bindings-node')
const SESSION = 'IQoJb3JpZ2luX2VjE/+abc==//xyz+def=ghi'.repeat(20) // ~800 characters, like a role's
const CREDS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: SESSION }
const HOST = 'abc123example.dsql.us-east-1.on.aws'
const SCOPE = 'https://ossrdbms-aad.database.windows.net/.default'
const QUICK = process.argv.includes('--quick')
const REPEAT = QUICK ? 3 : 9

// Static credentials for passmint's chain, set before its runtime starts any thread.
Object.assign(process.env, {
  AWS_ACCESS_KEY_ID: CREDS.accessKeyId, AWS_SECRET_ACCESS_KEY: CREDS.secretAccessKey, AWS_SESSION_TOKEN: SESSION,
})

const passmint = require(PACKAGE)
const { DsqlSigner } = require('@aws-sdk/dsql-signer')
const { Signer: RdsSigner } = require('@aws-sdk/rds-signer')
const { ManagedIdentityCredential } = require('@azure/identity')

function summary(runsNs) {
  const sorted = [...runsNs].sort((a, b) => a - b)
  const median = sorted[Math.floor(sorted.length / 2)]
  const dev = runsNs.map((r) => Math.abs(r - median)).sort((a, b) => a - b)
  return { median_ns: +median.toFixed(1), mad_ns: +dev[Math.floor(dev.length / 2)].toFixed(1) }
}

let sink = 0 // keeps results alive so nothing is optimized away

function timeSync(fn, number) {
  for (let i = 0; i < number; i++) sink ^= fn().length // warm-up: compile, fill caches
  const runs = []
  for (let r = 0; r < REPEAT; r++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < number; i++) sink ^= fn().length
    runs.push(Number(process.hrtime.bigint() - start) / number)
  }
  return summary(runs)
}

async function timeAsync(fn, number) {
  for (let i = 0; i < number; i++) sink ^= (await fn()).length
  const runs = []
  for (let r = 0; r < REPEAT; r++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < number; i++) sink ^= (await fn()).length
    runs.push(Number(process.hrtime.bigint() - start) / number)
  }
  return summary(runs)
}

function withRatio(peer, ours) {
  return { ...peer, ratio: +(peer.median_ns / ours.median_ns).toFixed(1) }
}

/** require() of `id` in a fresh node: milliseconds and the RSS it added, medians of `n` runs. */
function requireCost(id, n) {
  const resolved = id === 'passmint' ? PACKAGE : require.resolve(id)
  const script = `const base = process.memoryUsage().rss; const t = performance.now(); require(${JSON.stringify(resolved)});
    const ms = performance.now() - t; console.log(JSON.stringify({ ms, rss: process.memoryUsage().rss, added: process.memoryUsage().rss - base }))`
  const runs = Array.from({ length: n }, () => JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })))
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  return { ms: +med(runs.map((r) => r.ms)).toFixed(1), rss_mib: +(med(runs.map((r) => r.rss)) / 2 ** 20).toFixed(1),
    added_mib: +(med(runs.map((r) => r.added)) / 2 ** 20).toFixed(1), runs: n }
}

async function main() {
  const dsql = passmint.dsql({ host: HOST })
  const token = await dsql.token()
  const results = {}
  results.token_sync_cached = { ...timeSync(() => dsql.tokenSync(), 100_000), target_ns: 1000 }
  results.token_await_warm = { ...(await timeAsync(() => dsql.token(), 100_000)), target_ns: 2000 }
  results.token_info_await_warm = await timeAsync(() => dsql.tokenInfo().then((t) => t.secret), 50_000)

  const signer = new DsqlSigner({ hostname: HOST, region: 'us-east-1', credentials: CREDS })
  results.dsql_signer = withRatio(await timeAsync(() => signer.getDbConnectAdminAuthToken(), QUICK ? 300 : 2000), results.token_await_warm)

  const rdsSigner = new RdsSigner({ hostname: 'db.abc123example.eu-west-1.rds.amazonaws.com', port: 5432, username: 'app',
    region: 'eu-west-1', credentials: CREDS })
  results.rds_signer = await timeAsync(() => rdsSigner.getAuthToken(), QUICK ? 300 : 2000)

  const azure = passmint.azure({ credential: 'managed' })
  await azure.token()
  results.azure_token_await_warm = await timeAsync(() => azure.token(), 100_000)
  const credential = new ManagedIdentityCredential()
  await credential.getToken(SCOPE)
  results.azure_identity_get_token = withRatio(await timeAsync(async () => (await credential.getToken(SCOPE)).token, QUICK ? 2000 : 20_000),
    results.azure_token_await_warm)

  const google = passmint.gcp()
  await google.token()
  results.gcp_token_await_warm = await timeAsync(() => google.token(), 100_000)
  const client = await googleAuthClient(require)
  await client.getAccessToken()
  results.google_auth_get_access_token = withRatio(
    await timeAsync(async () => (await client.getAccessToken()).token, QUICK ? 2000 : 20_000), results.gcp_token_await_warm)

  const n = QUICK ? 3 : 11
  results.require = { passmint: { ...requireCost('passmint', n), target_ms: 50 }, '@azure/identity': requireCost('@azure/identity', n),
    '@aws-sdk/dsql-signer': requireCost('@aws-sdk/dsql-signer', n) }
  results.meta = {
    node: process.version, repeat: REPEAT, dsql_token_chars: token.length,
    peers: Object.fromEntries(['@aws-sdk/dsql-signer', '@aws-sdk/rds-signer', '@azure/identity', 'google-auth-library'].map((p) => [p, JSON.parse(fs.readFileSync(path.join(TOP, 'tests', 'node_modules', p, 'package.json'), 'utf8')).version])),
    sink,
  }
  console.log(JSON.stringify(results))
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
