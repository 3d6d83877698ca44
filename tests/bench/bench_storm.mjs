// The Node half of tests/bench/bench_storm.py: storms (N callers at once on a cold cache; identity
// requests counted at the mock) and first tokens (time and RSS of a fresh process that loads
// the library and gets one token). Prints JSON. Needs IDENTITY_ENDPOINT/IDENTITY_HEADER and
// AWS_CONTAINER_CREDENTIALS_FULL_URI pointing at the mock, PASSMINT_TEST_MOCK its URL,
// PASSMINT_TEST_MOCK_HTTPS its https URL and GOOGLE_APPLICATION_CREDENTIALS a key it knows.

import { createRequire } from 'node:module'
import { execFileSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { googleAuthClient, TOKEN_PATH } from './google_peer.mjs'

const TOP = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const require = createRequire(path.join(TOP, 'tests', 'package.json'))
const PACKAGE = process.env.PASSMINT_NODE_PACKAGE ?? path.join(TOP, 'bindings-node')
const CALLERS = Number(process.argv[2] ?? 200)
const HOST = 'abc123example.dsql.us-east-1.on.aws'
const SCOPE = 'https://ossrdbms-aad.database.windows.net/.default'
const ROUTES = { azure: '/azure/appservice/token', aws: '/aws/container-credentials', google: TOKEN_PATH }

async function requests(prefix) {
  const res = await fetch(`${process.env.PASSMINT_TEST_MOCK}/_mock/requests?prefix=${encodeURIComponent(prefix)}`)
  return (await res.json()).length
}

async function storm(route, call) {
  const before = await requests(route)
  const started = performance.now()
  const results = await Promise.allSettled(Array.from({ length: CALLERS }, call))
  const seconds = (performance.now() - started) / 1000
  const failed = results.filter((r) => r.status === 'rejected').length
  return { requests: (await requests(route)) - before, seconds: +seconds.toFixed(3), failed }
}

const FIRST = {
  'passmint (Node), DSQL': `require(${JSON.stringify(PACKAGE)}).dsql({ host: ${JSON.stringify(HOST)} }).token()`,
  'passmint (Node), Azure': `require(${JSON.stringify(PACKAGE)}).azure({ credential: 'managed' }).token()`,
  '@aws-sdk/dsql-signer, DSQL': `new (require(${JSON.stringify(require.resolve('@aws-sdk/dsql-signer'))}).DsqlSigner)({ hostname: ${JSON.stringify(HOST)}, region: 'us-east-1' }).getDbConnectAdminAuthToken()`,
  '@azure/identity, Azure': `new (require(${JSON.stringify(require.resolve('@azure/identity'))}).ManagedIdentityCredential)().getToken(${JSON.stringify(SCOPE)})`,
}

function firstToken(runs) {
  const out = {}
  for (const [name, expr] of Object.entries(FIRST)) {
    const script = `const t = performance.now(); Promise.resolve(${expr}).then(() => console.log(JSON.stringify({ ms: performance.now() - t, rss: process.memoryUsage().rss })))`
    const samples = Array.from({ length: runs }, () => JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })))
    const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
    out[name] = { ms: +med(samples.map((s) => s.ms)).toFixed(1), rss_mib: +(med(samples.map((s) => s.rss)) / 2 ** 20).toFixed(1) }
  }
  return out
}

async function main() {
  const passmint = require(PACKAGE)
  const { ManagedIdentityCredential } = require('@azure/identity')
  const { DsqlSigner } = require('@aws-sdk/dsql-signer')
  const storms = {}
  const azure = passmint.azure({ credential: 'managed' })
  storms['passmint (Node) Azure'] = await storm(ROUTES.azure, () => azure.token())
  const shared = new ManagedIdentityCredential()
  storms['@azure/identity (shared credential)'] = await storm(ROUTES.azure, () => shared.getToken(SCOPE))
  const dsql = passmint.dsql({ host: HOST })
  storms['passmint (Node) DSQL'] = await storm(ROUTES.aws, () => dsql.token())
  // The DSQL node-postgres connector builds a signer on the default credential chain per connection.
  storms['@aws-sdk/dsql-signer (per connection)'] = await storm(ROUTES.aws,
    () => new DsqlSigner({ hostname: HOST, region: 'us-east-1' }).getDbConnectAdminAuthToken())
  const google = passmint.gcp()
  storms['passmint (Node) Google'] = await storm(ROUTES.google, () => google.token())
  const client = await googleAuthClient(require)
  storms['google-auth-library (shared client)'] = await storm(ROUTES.google, () => client.getAccessToken())
  console.log(JSON.stringify({ storms, first_token: firstToken(process.argv.includes('--quick') ? 3 : 7) }))
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
