// What the Node suite shares: the passmint package under test, the mock's control API and the
// harness PostgreSQL (tests/harness/serve.py starts both and describes them in the environment).

import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const TOP = process.env.PASSMINT_TOP ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
// PASSMINT_NODE_DRIVERS: another package.json whose node_modules hold the drivers (tests/node-oldest/:
// the oldest versions passmint supports).
const require = createRequire(process.env.PASSMINT_NODE_DRIVERS ?? path.join(TOP, 'tests', 'package.json'))

/** The package as `require('passmint')` gives it (PASSMINT_NODE_PACKAGE: an installed copy). */
export const PACKAGE_DIR = process.env.PASSMINT_NODE_PACKAGE ?? path.join(TOP, 'bindings-node')
export const passmint = require(PACKAGE_DIR)
/** The path `require` gives for a module of the test install (for child processes). */
export const resolveTestModule = (id) => require.resolve(id)
export const pg = require('pg')
export const PG_VERSION = require('pg/package.json').version
export const postgres = require('postgres')
export const { Sequelize } = require('sequelize')
export const knex = require('knex')
/** Sequelize 7 (`@sequelize/core` with its postgres dialect), or null among drivers without it. */
export const sequelize7 = (() => {
  try {
    return { Sequelize: require('@sequelize/core').Sequelize, PostgresDialect: require('@sequelize/postgres').PostgresDialect }
  } catch {
    return null
  }
})()

function need(name) {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set: run this suite through tests/harness/serve.py`)
  return value
}

export const MOCK = need('PASSMINT_TEST_MOCK')
export const PG_PORT = Number(need('PASSMINT_TEST_PG_PORT'))
export const CA_PEM = need('PASSMINT_TEST_CA')
export const CA = fs.readFileSync(CA_PEM, 'utf8')

export const DSQL_HOST = 'abc123example.dsql.us-east-1.on.aws'
export const RDS_HOST = 'db.abc123example.eu-west-1.rds.amazonaws.com'
export const KINDS = ['dsql', 'rds', 'azure', 'gcp']
/** The mock route each kind's identity requests go to. */
export const ROUTE = { dsql: 'container', rds: 'container', azure: 'azure-appservice', gcp: 'gcp-token' }
export const CHECK = 'SELECT current_user AS user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'

async function call(method, op, body) {
  const res = await fetch(`${MOCK}/_mock/${op}`, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  })
  const data = await res.json()
  if (!res.ok) throw new Error(`mock ${op}: ${JSON.stringify(data)}`)
  return data
}

export const mock = {
  /** Forgets requests and faults; keeps the App Service header this process was started with
   * (a reset draws a new one, and the environment cannot follow). */
  reset: async () => {
    await call('POST', 'reset', {})
    await call('POST', 'config', { identity_header: need('IDENTITY_HEADER') })
  },
  config: (settings) => call('POST', 'config', settings),
  fault: (route, fault) => call('POST', 'fault', { route, ...fault }),
  clearFault: (route) => call('POST', 'clear-fault', { route }),
  lifetime: (route, seconds) => call('POST', 'lifetime', { route, seconds }),
  /** Makes the next token `route` issues a fresh one; returns it. */
  queueAzureToken: async (route = 'azure-appservice') => (await call('POST', 'azure-queue', { route })).token,
  requests: async (route) => (await call('GET', 'requests')).filter((r) => route === undefined || r.route === route),
  /** A new Google service account key (JSON), registered with the mock's token endpoint. */
  googleServiceAccount: async (name) => (await call('POST', 'gcp-service-account', { name })).key,
  /** Every token and credential secret the mock handed out. */
  secrets: async () => (await call('GET', 'issued')).secrets,
}

/** A superuser session over the unix socket (trusted), for roles and their passwords. */
export async function superuser() {
  const client = new pg.Client({
    host: need('PASSMINT_TEST_PG_SOCKET'),
    port: PG_PORT,
    user: need('PASSMINT_TEST_PG_SUPERUSER'),
    database: 'postgres',
  })
  await client.connect()
  return client
}

let admin
async function adminClient() {
  admin ??= await superuser()
  return admin
}

/** Closes the shared superuser session (call from the file's `after`). */
export async function closeAdmin() {
  await admin?.end()
  admin = undefined
}

let roles = 0
/** A fresh login role: tests sharing the server never share passwords. */
export async function newRole() {
  const name = `node_${process.pid}_${Date.now().toString(36)}_${roles++}`
  const c = await adminClient()
  await c.query(`CREATE ROLE ${c.escapeIdentifier(name)} LOGIN`)
  return name
}

/** What the cloud would do: make `token` the role's password. */
export async function setPassword(role, token) {
  const c = await adminClient()
  await c.query(`ALTER ROLE ${c.escapeIdentifier(role)} PASSWORD ${c.escapeLiteral(token)}`)
}

/** A provider of `kind` for `role`, backed by the mock (AWS container credentials, App Service). */
export async function makeProvider(kind, role, options = {}) {
  if (kind === 'dsql') return passmint.dsql({ host: DSQL_HOST, user: role, ...options })
  if (kind === 'rds') return passmint.rds({ host: RDS_HOST, user: role, ...options })
  if (kind === 'gcp') {
    // Application Default Credentials from GOOGLE_APPLICATION_CREDENTIALS, as on a server with a key.
    const key = await mock.googleServiceAccount(role.replaceAll('_', '-').slice(0, 30))
    const file = path.join(fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'passmint-gcp-')), 'key.json')
    fs.writeFileSync(file, JSON.stringify(key), { mode: 0o600 })
    process.env.GOOGLE_APPLICATION_CREDENTIALS = file
    return passmint.gcp({ user: role, ...options })
  }
  await mock.config({ azure_app_name: role }) // the identity is named like its role, as on Azure
  return passmint.azure({ credential: 'managed', ...options })
}

/** Mints through `provider` and makes the token `role`'s password; the provider's cache then
 * hands the driver that same token. */
export async function login(provider, role) {
  const token = await provider.token()
  await setPassword(role, token)
  return token
}

/** node-postgres settings for the harness server over verified TLS, without a password. */
export function pgConfig(role, extra = {}) {
  return { host: 'localhost', port: PG_PORT, database: 'postgres', user: role, ssl: { ca: CA, rejectUnauthorized: true }, ...extra }
}

/**
 * Runs `script` in a new Node process whose environment lacks NODE_EXTRA_CA_CERTS, so that nothing
 * trusts the harness CA; fails unless it exits 0, and returns what it printed.
 */
export function runWithoutHarnessCa(script) {
  const env = { ...process.env }
  delete env.NODE_EXTRA_CA_CERTS
  const r = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8', timeout: 60_000 })
  if (r.status !== 0) throw new Error(`the script exited ${r.status}: ${r.stderr}`)
  return r.stdout
}

/** Fails when any token or secret the mock issued occurs in `text`. */
export async function assertNoSecrets(text, extra = []) {
  const secrets = [...(await mock.secrets()), ...extra].filter((s) => s && s.length >= 16)
  for (const s of secrets) {
    if (text.includes(s)) throw new Error(`a secret reached this text: …${s.slice(-8)}`)
  }
}
