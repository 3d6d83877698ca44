// The shared token cache from Node (issue 18): a `cluster` of 64 workers, each with its own
// provider ({ sharedCache: true }), on a cold cache makes one identity request, and one more
// after the token's refresh point. Each run gets a directory of its own (XDG_RUNTIME_DIR).

import { test, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { PACKAGE_DIR, passmint, mock } from './harness.mjs'

beforeEach(() => mock.reset())

const CLUSTER = `
const cluster = require('node:cluster')
const { Provider } = require(${JSON.stringify(PACKAGE_DIR)})
if (cluster.isPrimary) {
  const n = Number(process.argv[1]), tokens = []
  for (let i = 0; i < n; i++) cluster.fork()
  cluster.on('message', (worker, message) => {
    tokens.push(message)
    worker.kill()
    if (tokens.length === n) console.log(JSON.stringify(tokens))
  })
} else {
  const p = new Provider('azure://?credential=managed', { sharedCache: true })
  if (!p.sharedCache) process.send('error: not shared')
  p.token().then((t) => process.send(t), (e) => process.send('error: ' + e.code + ' ' + e.message))
}
`

function runCluster(dir, n) {
  const r = spawnSync(process.execPath, ['-e', CLUSTER, String(n)], {
    env: { ...process.env, XDG_RUNTIME_DIR: dir }, encoding: 'utf8', timeout: 120_000,
  })
  assert.equal(r.status, 0, r.stderr)
  const tokens = JSON.parse(r.stdout)
  assert.equal(tokens.length, n)
  assert.ok(tokens.every((t) => !t.startsWith('error')), tokens.find((t) => t.startsWith('error')))
  return tokens
}

test('64 cluster workers on a cold cache make one identity request, then one per refresh', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'passmint-shared-'))
  try {
    await mock.lifetime('azure-appservice', 62) // refreshed 31 s after it was fetched
    await mock.fault('azure-appservice', { delay: 0.5, times: 1 })
    const first = runCluster(dir, 64)
    assert.equal(new Set(first).size, 1)
    assert.equal((await mock.requests('azure-appservice')).length, 1)
    await sleep(32_000)
    const second = runCluster(dir, 64)
    assert.equal(new Set(second).size, 1)
    assert.notEqual(second[0], first[0])
    assert.equal((await mock.requests('azure-appservice')).length, 2)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('sharedCache is off by default, on when asked, and refused for a value that is not a boolean', () => {
  const { Provider, dsql } = passmint
  assert.equal(new Provider('azure://?credential=managed').sharedCache, false)
  assert.equal(new Provider('azure://?credential=managed', { sharedCache: true }).sharedCache, true)
  assert.equal(new Provider('azure://?credential=managed&shared_cache=1').sharedCache, true)
  assert.equal(new Provider('azure://?credential=managed&shared_cache=1', { sharedCache: false }).sharedCache, false)
  assert.equal(dsql({ host: 'abc123example.dsql.us-east-1.on.aws', sharedCache: true }).sharedCache, true)
  assert.equal(Provider.forPostgresUrl('postgresql://app@mydb.postgres.database.azure.com/app', { sharedCache: true }).sharedCache, true)
  assert.throws(() => new Provider('azure://', { sharedCache: 'yes' }), (e) => e.code === 'PASSMINT_INVALID_ARGUMENT')
  assert.throws(() => new Provider('azure://?shared_cache=maybe'), (e) => e.code === 'PASSMINT_INVALID_CONFIG')
  // A function of yours has no configuration to key a shared entry by: it stays in-process.
  assert.equal(Provider.fromFunction(() => ({ token: 't', expiresAt: 4102444800 })).sharedCache, false)
})
