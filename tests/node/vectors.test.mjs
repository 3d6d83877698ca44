// tests/vectors/driver_tls.json from Node: the core's driver TLS policy through the Node
// binding's bridge (the native decideTls that lib/tls.ts calls), case for case as
// core/src/driver_tls.rs and tests/python/test_tls_vectors.py run them.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { createRequire } from 'node:module'
import { TOP, PACKAGE_DIR, passmint } from './harness.mjs'

const native = createRequire(import.meta.url)(path.join(PACKAGE_DIR, 'native.js'))
const cases = JSON.parse(fs.readFileSync(path.join(TOP, 'tests', 'vectors', 'driver_tls.json'), 'utf8'))

test('the shared driver TLS vectors', () => {
  assert.ok(cases.length >= 30)
  for (const [i, c] of cases.entries()) {
    const s = c.setting
    const decide = () => native.decideTls({
      driver: c.driver, setting: s.kind, value: s.value, source: s.from, shown: s.shown, pgsslmode: c.pgsslmode,
      sslrootcert: c.sslrootcert, pgsslrootcert: c.pgsslrootcert, provider: c.provider, helper: 'the helper',
      allowPlaintext: c.allow_plaintext === true, allowUnverifiedTls: c.allow_unverified_tls === true,
    })
    if (c.expect === 'refuse') {
      assert.throws(decide, (e) => {
        assert.equal(e.code, 'PASSMINT_INVALID_CONFIG', `case ${i}`)
        for (const part of c.message_has ?? []) assert.ok(e.message.includes(part), `case ${i}: ${part} in ${e.message}`)
        for (const part of c.message_lacks ?? []) assert.ok(!e.message.includes(part), `case ${i}: ${part} in ${e.message}`)
        return true
      }, `case ${i}`)
    } else {
      assert.equal(decide(), c.expect === 'add_verified', `case ${i}`)
    }
  }
})

test('the error codes and provider kinds are the core\'s', () => {
  const codes = native.errorKinds().map((k) => `PASSMINT_${k}`)
  // Every code the core can report is one PassmintError knows (none becomes INTERNAL).
  for (const code of codes) assert.equal(new passmint.PassmintError(code, 'x').code, code)
  assert.deepEqual(native.providerKinds(), ['azure', 'dsql', 'rds', 'gcp', 'vault', 'awssm', 'file', 'exec', 'callback'])
})
