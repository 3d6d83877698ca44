// The npm package as a user gets it (issue 6): `npm pack`, installed offline into an empty
// project (no compiler involved), loaded with require and import; the examples in examples/node
// run against it, and the TypeScript one type-checks with --strict and runs.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { TOP, PACKAGE_DIR, PG_PORT, CA_PEM, mock, newRole, setPassword, closeAdmin, assertNoSecrets } from './harness.mjs'

const EXAMPLES = path.join(TOP, 'examples', 'node')
const TEST_MODULES = path.join(TOP, 'tests', 'node_modules')
let work, app, tarball

function npm(args, cwd) {
  return execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, encoding: 'utf8' })
}

before(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'passmint-npm-'))
  const [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', work], PACKAGE_DIR))
  tarball = { path: path.join(work, packed.filename), files: packed.files.map((f) => f.path) }
  app = path.join(work, 'app')
  fs.mkdirSync(app)
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }))
  // Offline and without install scripts: nothing is built on the user's machine.
  npm(['install', '--offline', '--ignore-scripts', tarball.path], app)
  // The drivers and type packages the examples use, from the test install.
  for (const dep of ['pg', 'postgres', 'sequelize', 'knex', 'typescript', '@types', 'prisma', '@prisma']) {
    fs.symlinkSync(path.join(TEST_MODULES, dep), path.join(app, 'node_modules', dep))
  }
  for (const file of fs.readdirSync(EXAMPLES)) {
    if (/\.(js|ts)$/.test(file) || file === 'tsconfig.json') fs.copyFileSync(path.join(EXAMPLES, file), path.join(app, file))
  }
  fs.cpSync(path.join(EXAMPLES, 'prisma'), path.join(app, 'prisma'), { recursive: true })
  // `npm run generate`, offline: the schema engine Prisma would download is only needed for
  // migrations, so a no-op stands in for it.
  execFileSync(process.execPath, [path.join(app, 'node_modules', 'prisma', 'build', 'index.js'), 'generate', '--schema', 'prisma/schema.prisma'],
    { cwd: app, env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: '/bin/true', CHECKPOINT_DISABLE: '1' }, stdio: 'pipe' })
})

after(async () => {
  await closeAdmin()
  fs.rmSync(work, { recursive: true, force: true })
})

test('the tarball holds the loader, both entry points, the types and the addon, and no sources', () => {
  for (const f of ['package.json', 'index.js', 'index.mjs', 'index.d.ts', 'native.js', 'native.d.ts', 'passmint.linux-x64-gnu.node']) {
    assert.ok(tarball.files.includes(f), `${f} missing from ${tarball.files}`)
  }
  assert.ok(!tarball.files.some((f) => /^(src|lib)\/|Cargo|\.rs$|node_modules/.test(f)), tarball.files.join(' '))
})

test('the installed package loads with require and import', () => {
  const script = `
    const cjs = require('passmint')
    import('passmint').then((esm) => {
      if (esm.Provider !== cjs.Provider || esm.default !== cjs) throw new Error('two copies')
      const p = new cjs.Provider('dsql://abc123example.dsql.us-east-1.on.aws')
      console.log(JSON.stringify({ version: cjs.version, kind: p.kind, user: p.username, path: require.resolve('passmint') }))
    })`
  const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: app, encoding: 'utf8' }))
  assert.deepEqual({ ...out, path: undefined }, { version: '0.1.0', kind: 'dsql', user: 'admin', path: undefined })
  assert.ok(out.path.startsWith(fs.realpathSync(app)), out.path)
})

test('the TypeScript example type-checks with --strict', () => {
  const tsc = path.join(app, 'node_modules', 'typescript', 'bin', 'tsc')
  const r = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '-p', app], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stdout + r.stderr)
  // And it can fail: a wrong type is caught.
  fs.writeFileSync(path.join(app, 'wrong.ts'),
    "import { Provider, Token } from 'passmint'\nconst n: number = new Provider('azure://').tokenSync()\nconst t = new Token()\n")
  const bad = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--types', 'node', '--module', 'nodenext', 'wrong.ts'], { cwd: app, encoding: 'utf8' })
  assert.notEqual(bad.status, 0)
  assert.match(bad.stdout, /TS2322/) // string is not a number
  assert.match(bad.stdout, /TS2673/) // Token's constructor is private
})

function compileTyped() {
  const tsc = path.join(app, 'node_modules', 'typescript', 'bin', 'tsc')
  execFileSync(process.execPath, [tsc, '-p', app], { encoding: 'utf8' })
  return path.join(app, 'dist', 'typed.js')
}

for (const example of ['pg-pool.js', 'postgres-js.js', 'sequelize.js', 'knex.js', 'prisma.js', 'typed.ts']) {
  test(`examples/node/${example} logs in with an Azure managed identity token over verified TLS`, async () => {
    await mock.reset()
    const role = await newRole()
    await mock.config({ azure_app_name: role }) // the identity is named like its role, as on Azure
    const token = await mock.queueAzureToken()
    await setPassword(role, token)
    const script = example.endsWith('.ts') ? compileTyped() : path.join(app, example)
    const env = { ...process.env, PASSMINT_PROVIDER: 'azure://?credential=managed', PGHOST: 'localhost', PGPORT: String(PG_PORT), PGSSLROOTCERT: CA_PEM }
    delete env.PGUSER
    const r = spawnSync(process.execPath, [script], { cwd: app, env, encoding: 'utf8', timeout: 60_000 })
    assert.equal(r.status, 0, r.stderr)
    const out = JSON.parse(r.stdout)
    assert.equal(out.user, role) // no PGUSER: the role came from the token
    if ('ssl' in out) assert.equal(out.ssl, true)
    if (example === 'typed.ts') {
      assert.equal(out.same, true)
      assert.equal(out.invalid, 'PASSMINT_INVALID_CONFIG')
      assert.deepEqual(out.configured, ['azure', 'dsql', 'rds', 'azure'])
      assert.equal(out.bundle, null) // Azure: public roots
    }
    assert.equal((await mock.requests('azure-appservice')).length, 1)
    await assertNoSecrets(r.stdout + r.stderr, [token])
  })
}
