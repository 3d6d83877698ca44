// TypeScript: every export of `passmint`, type-checked with `tsc --noEmit --strict`.
import fs from 'node:fs'
import pg from 'pg'
import postgres from 'postgres'
import { Sequelize } from 'sequelize'
import {
  PassmintError, Provider, Token, azure, configureSequelize, dsql, mikroOrm6DriverOptions, pgOptions, postgresOptions, rds, version,
  type AzureOptions, type DsqlOptions, type DynamicPassword, type ErrorCode, type HelperOptions, type RdsOptions,
} from 'passmint'

// Typed constructors mirror the provider URL parameters; nothing is fetched until a token is asked for.
const azureOptions: AzureOptions = { credential: 'managed', clientId: '00000000-0000-0000-0000-000000000000' }
const dsqlOptions: DsqlOptions = { host: 'abc123example.dsql.us-east-1.on.aws', user: 'admin', expiresIn: 900 }
const rdsOptions: RdsOptions = { host: 'db.abc123example.eu-west-1.rds.amazonaws.com', port: 5432, user: 'app' }
const configured: Provider[] = [
  azure(azureOptions), dsql(dsqlOptions), rds(rdsOptions),
  Provider.forPostgresUrl('postgresql://app@mydb.postgres.database.azure.com/app'),
]

function codeOf(make: () => Provider): ErrorCode | null {
  try {
    make()
    return null
  } catch (e) {
    if (e instanceof PassmintError) return e.code
    throw e
  }
}

async function main(): Promise<void> {
  const url = process.env.PASSMINT_PROVIDER
  if (!url) throw new Error('set PASSMINT_PROVIDER')
  const provider = new Provider(url)
  const info: Token = await provider.tokenInfo()
  const role: string = process.env.PGUSER ?? info.username ?? provider.username ?? 'postgres'
  const ssl = { rejectUnauthorized: true, ...(process.env.PGSSLROOTCERT ? { ca: fs.readFileSync(process.env.PGSSLROOTCERT) } : {}) }
  const common = { host: process.env.PGHOST ?? 'localhost', port: Number(process.env.PGPORT ?? 5432), database: 'postgres' }

  // node-postgres takes the bound `password` function as it is.
  const password: () => Promise<string> = provider.password
  const pool = new pg.Pool({ ...common, user: role, password, ssl })
  const { rows } = await pool.query<{ user: string }>('SELECT current_user AS user')
  await pool.end()

  const helper: HelperOptions = { allowPlaintext: false, allowUnverifiedTls: false }
  const bundle: string | null = provider.serverCaBundle
  const sequelize = configureSequelize(new Sequelize({ dialect: 'postgres', ...common, username: role, dialectOptions: { ssl }, logging: false }), provider, helper)
  await sequelize.authenticate()
  await sequelize.close()

  // Postgres.js: pass, user and TLS filled in; the result type-checks as Postgres.js's options.
  const sql = postgres(await postgresOptions(provider, { ...common, username: role, ssl, max: 1, ...helper }))
  const [viaPostgresJs] = await sql<{ user: string }[]>`SELECT current_user AS user`
  await sql.end()

  // node-postgres (and Drizzle, Kysely, TypeORM's `extra`): password, user and TLS filled in.
  const viaPgOptions = new pg.Pool(await pgOptions(provider, { ...common, ssl, max: 1 }, helper))
  const { rows: again } = await viaPgOptions.query<{ user: string }>('SELECT current_user AS user')
  await viaPgOptions.end()
  // MikroORM 6 reads `connection`; its password, called other than by node-postgres, answers as
  // MikroORM's dynamic password.
  const knexPassword: () => Promise<string | DynamicPassword> = (await mikroOrm6DriverOptions(provider, { ...common, ssl }, helper)).connection.password
  const dynamic = await knexPassword()

  const same: boolean = provider.tokenSync() === (await provider.token()) && provider.tokenInfoSync().secret === info.secret
  console.log(JSON.stringify({
    driver: 'typescript', user: rows[0].user === viaPostgresJs.user && again[0].user === rows[0].user ? rows[0].user : null,
    same: same && typeof dynamic !== 'string' && dynamic.password === info.secret, version, kind: provider.kind, provider: info.provider,
    expiresAt: info.expiresAt.toISOString(), configured: configured.map((p) => p.kind), bundle,
    invalid: codeOf(() => new Provider('bogus://')),
  }))
}

main().catch((e: unknown) => {
  console.error(e instanceof PassmintError ? `${e.code}: ${e.message}` : e)
  process.exitCode = 1
})
