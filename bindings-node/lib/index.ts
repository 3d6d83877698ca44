/**
 * passmint: short-lived PostgreSQL passwords from cloud identity (Entra ID, Aurora DSQL, RDS IAM).
 *
 * ```js
 * const { Provider } = require('passmint')
 * const p = Provider.forPostgresUrl('postgresql://app@mydb.postgres.database.azure.com/app')
 * new pg.Pool({ host, user: 'app', password: p.password, ssl: { rejectUnauthorized: true } })
 * ```
 *
 * These files only translate: the native module (the Rust core) owns the cache, single-flight,
 * refresh-ahead, deadlines, the parameter checks and the TLS policy. One file per job, as in
 * the Python package: errors, token, provider, callback, builders, tls, helpers, sequelize, postgres,
 * pg (node-postgres config, for pg and the ORMs on its Pool: Drizzle, Kysely, TypeORM, MikroORM).
 *
 * @packageDocumentation
 */

import { nativeVersion } from './native'

export { PassmintError, type ErrorCode } from './errors'
export { Token, type ProviderKind } from './token'
export { Provider, type ProviderOptions, type ProviderStatus, type TokenOptions, type AbortSignalLike, type AzureTokenCredential } from './provider'
export { type TokenAnswer, type TokenFunction, type AwsCredentialIdentity, type AwsCredentialsSource } from './callback'
export { awssm, azure, dsql, gcp, rds, vault, type AwssmOptions, type AzureOptions, type DsqlOptions, type GcpOptions, type RdsOptions, type SignerAliases, type VaultOptions } from './builders'
export { type HelperOptions } from './tls'
export { type TokenSource } from './helpers'
export { configureSequelize, type SequelizeLike, type SequelizeConnectionConfig } from './sequelize'
export { postgresOptions, type PostgresOptions, type PostgresTokenSource } from './postgres'
export {
  mikroOrm6DriverOptions, pgOptions, type ConnectionStringSsl, type DynamicPassword, type MikroOrm6DriverOptions, type PgOptions,
  type PgTokenSource,
} from './pg'

/** The package version (the Rust core's). */
export const version: string = nativeVersion()
