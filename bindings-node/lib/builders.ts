/**
 * The typed builders `azure()`, `gcp()`, `vault()`, `awssm()`, `dsql()` and `rds()`: the provider URL's parameters as an
 * options object (camelCase). The core checks the names and values and builds the provider;
 * no URL is written here. Mirrors the Python package's `passmint.azure/dsql/rds`.
 */

import { NativeProvider } from './native'
import { invalid, translated } from './errors'
import { ADOPT, Provider } from './provider'
import { credentialsTrampoline, type AwsCredentialsSource } from './callback'

/** `expiresIn` → `expires_in`: the core's (and the URL's) names. */
function snake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
}

/** The AWS signers' option names (`@aws-sdk/dsql-signer`, `@aws-sdk/rds-signer`), for users
 * moving from them: each works as passmint's own. */
const ALIASES: Record<string, string> = { hostname: 'host', username: 'user', tokenDurationSecs: 'expiresIn' }

/** `options` with the signers' names renamed; both spellings at once is an error naming both. */
function unaliased(kind: string, options: object): Record<string, unknown> {
  const out: Record<string, unknown> = { ...(options ?? {}) }
  if (kind !== 'dsql' && kind !== 'rds') return out
  for (const [alias, own] of Object.entries(ALIASES)) {
    if (out[alias] === undefined) continue
    if (out[own] !== undefined) throw invalid(`${kind}(): give ${own} or ${alias} (the AWS signers' name for it), not both`)
    out[own] = out[alias]
    delete out[alias]
  }
  return out
}

/** A provider of `kind` from an options object; `undefined`, `null` and `false` are left out.
 * `credentials` (dsql, rds) replaces the default AWS chain. */
function build(kind: string, options: object): Provider {
  const fields: string[][] = []
  let credentials: AwsCredentialsSource | undefined
  for (const [key, value] of Object.entries(unaliased(kind, options))) {
    // An explicit sharedCache: false turns the shared cache off even where PASSMINT_SHARED_CACHE=1.
    if (key === 'sharedCache' && value === false) fields.push(['shared_cache', '0'])
    if (value === undefined || value === null || value === false) continue
    if (key === 'credentials' && kind !== 'azure' && kind !== 'gcp') {
      if (typeof value !== 'function' && typeof value !== 'object') {
        throw invalid(`${kind}(): credentials must be an @aws-sdk credential provider or { accessKeyId, secretAccessKey }`)
      }
      credentials = value as AwsCredentialsSource
      continue
    }
    if (typeof value === 'boolean') fields.push([snake(key), 'true'])
    else if (typeof value === 'string' || typeof value === 'number') fields.push([snake(key), String(value)])
    else throw invalid(`${kind}(): ${key} must be a string or number`)
  }
  try {
    const native = credentials === undefined
      ? NativeProvider.fromFields(kind, fields)
      : NativeProvider.fromFieldsWithCredentials(kind, fields, credentialsTrampoline(credentials))
    return new Provider(ADOPT, native)
  } catch (e) {
    throw translated(e)
  }
}

/** Options of {@link azure}: the `azure://` URL parameters. */
export interface AzureOptions {
  /** Share tokens with this user's other processes on this host (the README's shared cache). */
  sharedCache?: boolean
  /** Which credential; `'auto'` (default) tries environment → workload → managed → cli → azd. */
  credential?: 'auto' | 'environment' | 'workload' | 'managed' | 'cli' | 'azd'
  /** A user-assigned managed identity, by client id, object id or resource id. */
  clientId?: string
  objectId?: string
  resourceId?: string
  tenantId?: string
  cloud?: 'public' | 'usgov' | 'china'
  /** Overrides the cloud's Azure Database for PostgreSQL scope: another cloud's database scope, or
   * any resource scope with `allowCustomScope` (its token is sent to the server as a password). */
  scope?: string
  allowCustomScope?: boolean
  /** The role name; when absent it comes from the token's claims. */
  user?: string
}

/** An Entra ID provider for Azure Database for PostgreSQL. */
export function azure(options: AzureOptions = {}): Provider {
  return build('azure', options)
}

/** Options of {@link gcp}: the `gcp://` URL parameters. */
export interface GcpOptions {
  /** Share tokens with this user's other processes on this host (the README's shared cache). */
  sharedCache?: boolean
  /** Which credential; `'auto'` (default) is Application Default Credentials in google-auth's order:
   * GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC file, the metadata server. */
  credential?: 'auto' | 'service_account' | 'authorized_user' | 'external_account' | 'metadata'
  /** A service account to impersonate with the credential found (IAM Credentials generateAccessToken). */
  impersonate?: string
  /** Default `https://www.googleapis.com/auth/sqlservice.login`; AlloyDB may use `alloydb.login`.
   * Any other scope needs `allowCustomScope` (its token is sent to the server as a password). */
  scope?: string
  allowCustomScope?: boolean
  /** Sent as x-goog-user-project where google-auth sends it (impersonation). */
  quotaProject?: string
  /** The IAM database user; when absent it comes from the credential's e-mail
   * (`name@project.iam` for a service account). */
  user?: string
}

/** A Google Cloud SQL / AlloyDB IAM provider. */
export function gcp(options: GcpOptions = {}): Provider {
  return build('gcp', options)
}

/** Options of {@link awssm}: the `awssm://` URL parameters. */
export interface AwssmOptions {
  /** The secret's name (`prod/app/db`) or ARN. */
  secretId: string
  /** Required unless the ARN or the AWS settings name one. */
  region?: string
  profile?: string
  /** Seconds between reads (default 300): a secret states no expiry. */
  refresh?: number
  /** `AWSCURRENT` (default), `AWSPENDING`, or any staging label. */
  versionStage?: string
  /** The database role; by default the secret's `username`. */
  user?: string
  /** AWS credentials you hold, as for {@link DsqlOptions.credentials}. */
  credentials?: AwsCredentialsSource
}

/** A database secret in AWS Secrets Manager: its `username` and `password`, read again every
 * `refresh` seconds and at once after a refused password. */
export function awssm(options: AwssmOptions): Provider {
  if (typeof options?.secretId !== 'string') throw invalid('awssm(): secretId must be a string')
  return build('awssm', options)
}

/** Options of {@link vault}: the `vault://` URL parameters. */
export interface VaultOptions {
  /** `<mount>/creds/<role>`, `<mount>/static-creds/<role>` or a KV v2 `<mount>/data/<path>`. */
  path: string
  /** The server; without it, `VAULT_ADDR` (default `https://127.0.0.1:8200`). */
  host?: string
  port?: number
  /** `'token'` (default: `VAULT_TOKEN` or `~/.vault-token`), `'kubernetes'` or `'approle'`. */
  auth?: 'token' | 'kubernetes' | 'approle'
  /** The Vault role to log in as (kubernetes). */
  role?: string
  authMount?: string
  /** The service account token (default: the kubelet's mount). */
  jwtFile?: string
  roleId?: string
  secretIdFile?: string
  /** Default `VAULT_NAMESPACE`. */
  namespace?: string
  /** KV secrets only: the role, when the secret names none. */
  user?: string
  /** KV secrets only: seconds between reads (default 300). */
  refresh?: number
}

/** HashiCorp Vault / OpenBao credentials: each lease's username comes with its password. */
export function vault(options: VaultOptions): Provider {
  if (typeof options?.path !== 'string') throw invalid('vault(): path must be a string')
  return build('vault', options)
}

/** Options of {@link dsql}: the `dsql://` URL parameters. */
export interface DsqlOptions {
  /** Share tokens with this user's other processes on this host (the README's shared cache). */
  sharedCache?: boolean
  /** The cluster endpoint (`<id>.dsql.<region>.on.aws`), or the cluster id with `region`. */
  host: string
  region?: string
  /** `'admin'` (default) signs DbConnectAdmin; any other role DbConnect. */
  user?: string
  /** Token lifetime in seconds (default 900). */
  expiresIn?: number
  /** An AWS shared-config profile. */
  profile?: string
  /** AWS credentials you hold, in place of the default chain: an `@aws-sdk` credential provider
   * as it is (`fromIni({ profile })`), any async function resolving credentials, or fixed ones.
   * Signing stays in passmint; their expiry bounds the token. */
  credentials?: AwsCredentialsSource
}

/** An Aurora DSQL provider. */
export function dsql(options: DsqlOptions | (Omit<DsqlOptions, 'host'> & SignerAliases & { hostname: string })): Provider {
  const given = unaliased('dsql', options)
  if (typeof given.host !== 'string') throw invalid('dsql(): host must be a string')
  return build('dsql', given)
}

/** Options of {@link rds}: the `rds://` URL parameters. */
export interface RdsOptions {
  /** Share tokens with this user's other processes on this host (the README's shared cache). */
  sharedCache?: boolean
  host: string
  /** Default 5432. */
  port?: number
  /** The database user; it is signed into the token. */
  user: string
  /** Required unless the host is `*.<region>.rds.amazonaws.com`. */
  region?: string
  profile?: string
  /** AWS credentials you hold, as for {@link DsqlOptions.credentials}. */
  credentials?: AwsCredentialsSource
}

/** An RDS / Aurora IAM provider. */
export function rds(options: RdsOptions | (Omit<RdsOptions, 'host' | 'user'> & SignerAliases & { hostname: string; username: string })): Provider {
  const given = unaliased('rds', options)
  if (typeof given.host !== 'string') throw invalid('rds(): host must be a string')
  const port = given.port
  if (port !== undefined && !(typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65536)) {
    throw invalid(`rds(): port must be an integer between 1 and 65535, not ${String(port)}`)
  }
  return build('rds', given)
}

/** The AWS signers' spellings (`hostname`, `username`, `tokenDurationSecs`), accepted as
 * passmint's own (`host`, `user`, `expiresIn`) for code moving from `@aws-sdk/dsql-signer` and
 * `@aws-sdk/rds-signer`. */
export interface SignerAliases {
  hostname?: string
  username?: string
  tokenDurationSecs?: number
}
