/**
 * `pgOptions`: node-postgres `Pool`/`Client` config with a fresh token for every connection,
 * verified TLS by default and the core's refusals, for pg itself and for the ORMs that sit on its
 * Pool (Drizzle, Kysely, TypeORM's `extra`, MikroORM 7's `driverOptions`). `mikroOrm6DriverOptions`
 * is the same for MikroORM 6, whose Knex would otherwise keep the first token. Mirrors the Python
 * package's per-driver helper modules: it reads the driver's own settings as the driver does, then
 * adds what the caller left out.
 */

import { invalid } from './errors'
import { callerNamedUser, kindOf, oneUser, passwordGetter, type TokenSource } from './helpers'
import { type HelperOptions, type TlsSetting, type VerifiedTls, decide, objectSetting, pgTls, verifiedTls } from './tls'

declare const process: { env: Record<string, string | undefined> }
declare function require(id: 'node:fs'): { readFileSync(path: string): { toString(): string } }
declare class URL {
  constructor(url: string, base: string)
  readonly protocol: string
  readonly username: string
  readonly password: string
  readonly hostname: string
  readonly port: string
  pathname: string
  readonly searchParams: { get(name: string): string | null, forEach(fn: (value: string, key: string) => void): void }
}

const HELPER = 'pgOptions()'
const MIKRO_ORM_6_HELPER = 'mikroOrm6DriverOptions()'

type SslOf<C> = C extends { ssl?: infer S } ? S : never

/** The `ssl` a `connectionString` gives node-postgres (pg-connection-string's parse). */
export type ConnectionStringSsl = boolean | {
  ca?: string
  cert?: string
  key?: string
  rejectUnauthorized?: boolean
  checkServerIdentity?: () => undefined
}

/**
 * node-postgres config as {@link pgOptions} hands it back: the caller's `C` less `password` and
 * `connectionString` (whose settings it now holds), plus these.
 */
export type PgOptions<C extends object = Record<never, never>> = Omit<C, 'password' | 'connectionString' | 'ssl'> & {
  /** Called by node-postgres for every new connection: the provider's current token. */
  password: () => Promise<string>
  /** The caller's choice (or the connection string's), or the verified TLS the helper added. */
  ssl?: SslOf<C> | VerifiedTls | ConnectionStringSsl
  user?: string
  host?: string
  port?: number
  database?: string
}

/** What {@link pgOptions} reads of a provider; `password` is the provider's bound token getter. */
export interface PgTokenSource extends TokenSource {
  readonly password?: () => Promise<string>
  /** Whether a token is cached: {@link DynamicPassword}'s checker asks for a new one once it was dropped. */
  status?(): { cached: boolean }
}

/** MikroORM 6's dynamic password: Knex asks again once `expirationChecker` says so. */
export interface DynamicPassword {
  password: string
  expirationChecker: () => boolean
}

/** {@link mikroOrm6DriverOptions}' result, whose `connection` MikroORM 6 merges into Knex's. */
export interface MikroOrm6DriverOptions<C extends object = Record<never, never>> {
  connection: Omit<PgOptions<C>, 'password'> & {
    /** As a node-postgres Client's method, the token; called otherwise (MikroORM), a {@link DynamicPassword}. */
    password: () => Promise<string | DynamicPassword>
  }
}

/** What node-postgres takes from a connection string, and the `ssl` it chose, if any. */
interface UrlSettings {
  fields: Record<string, unknown>
  password: string
  ssl?: unknown
  /** The parameter that chose `ssl`, for messages: `sslmode=disable`. */
  chosenBy?: string
}

/**
 * A connection string as node-postgres reads it (pg-connection-string's `parse`, then
 * ConnectionParameters' `ssl` strings), files named by sslrootcert/sslcert/sslkey included.
 * node-postgres lets these override the config beside them, its empty user and password too, so
 * a `password` function next to a connectionString is never called: the helper hands pg the
 * settings themselves.
 */
function readConnectionString(text: string, helper: string): UrlSettings {
  if (text.charAt(0) === '/') {
    const [host, database] = text.split(' ')
    return { fields: { host, database }, password: '' }
  }
  let str = text
  if (/ |%[^a-f0-9]|%[a-f0-9][^a-f0-9]/i.test(str)) str = encodeURI(str).replace(/%25(\d\d)/g, '%$1')
  let url: URL
  let dummyHost = false
  try {
    try {
      url = new URL(str, 'postgres://base')
    } catch {
      url = new URL(str.replace('@/', '@___DUMMY___/'), 'postgres://base')
      dummyHost = true
    }
  } catch {
    // Not the text: it may hold a password.
    throw invalid(`${helper}: the connectionString is not a URL node-postgres can read`)
  }
  const q: Record<string, string> = {}
  url.searchParams.forEach((value, key) => { q[key] = value })
  const fields: Record<string, unknown> = { ...q }
  fields.user = q.user || decodeURIComponent(url.username)
  const password = q.password || decodeURIComponent(url.password)
  delete fields.password
  delete fields.ssl
  if (url.protocol === 'socket:') {
    return {
      fields: { ...fields, host: decodeURI(url.pathname), database: url.searchParams.get('db'), client_encoding: url.searchParams.get('encoding') },
      password,
    }
  }
  const hostname = (dummyHost ? '' : url.hostname).replace(/^\[(.+)\]$/, '$1')
  if (!q.host) fields.host = decodeURIComponent(hostname)
  else if (hostname && /^%2f/i.test(hostname)) url.pathname = hostname + url.pathname
  if (!q.port) fields.port = url.port
  const pathname = url.pathname.slice(1) || null
  fields.database = pathname ? decodeURI(pathname) : null

  let ssl: unknown = q.ssl
  if (q.ssl === 'true' || q.ssl === '1') ssl = true
  if (q.ssl === '0') ssl = false
  const files = q.sslcert || q.sslkey || q.sslrootcert
  let obj: Exclude<ConnectionStringSsl, boolean> = {}
  if (files || q.sslmode) ssl = obj
  if (q.sslnegotiation === 'direct' && ssl === undefined) ssl = true
  if (files) {
    const fs = require('node:fs')
    if (q.sslcert) obj.cert = fs.readFileSync(q.sslcert).toString()
    if (q.sslkey) obj.key = fs.readFileSync(q.sslkey).toString()
    if (q.sslrootcert) obj.ca = fs.readFileSync(q.sslrootcert).toString()
  }
  if (q.uselibpqcompat === 'true') {
    // libpq's meanings, which check less: `require` and `verify-ca` check no name.
    if (q.sslmode === 'disable') ssl = false
    else if (q.sslmode === 'prefer') obj.rejectUnauthorized = false
    else if (q.sslmode === 'require' && q.sslrootcert) obj.checkServerIdentity = () => undefined
    else if (q.sslmode === 'require') obj.rejectUnauthorized = false
    else if (q.sslmode === 'verify-ca') {
      if (!obj.ca) throw invalid(`${helper}: the connectionString's sslmode=verify-ca with uselibpqcompat=true needs sslrootcert (node-postgres refuses it too)`)
      obj.checkServerIdentity = () => undefined
    }
  } else if (q.sslmode === 'disable') {
    ssl = false
  } else if (q.sslmode === 'no-verify') {
    obj.rejectUnauthorized = false
  }
  if (ssl === 'no-verify') ssl = obj = { rejectUnauthorized: false }
  if (ssl === undefined) return { fields, password }
  const chosenBy = q.sslmode !== undefined ? `sslmode=${q.sslmode}` : q.ssl !== undefined ? `ssl=${q.ssl}` : `sslnegotiation=${q.sslnegotiation}`
  return { fields, password, ssl, chosenBy }
}

/** The connection string's TLS choice, named as the caller wrote it. */
function urlSetting(ssl: unknown, chosenBy: string): TlsSetting {
  const shown = `the connectionString's ${chosenBy}`
  if (!ssl) return { setting: 'off', shown }
  if (typeof ssl === 'object' && objectSetting(ssl).setting === 'unverified') return { setting: 'unverified', shown }
  return { setting: 'verified' }
}

function isSet(value: unknown): boolean {
  return value !== undefined && value !== null && value !== ''
}

async function build(provider: PgTokenSource, config: unknown, options: unknown, helper: string): Promise<Record<string, unknown>> {
  if (typeof provider?.tokenInfo !== 'function') throw invalid(`${helper}: provider must be a passmint Provider`)
  if (config !== undefined && (typeof config !== 'object' || config === null)) {
    throw invalid(`${helper}: config must be node-postgres's config object`)
  }
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw invalid(`${helper}: options must be an object ({ allowPlaintext, allowUnverifiedTls })`)
  }
  const { connectionString, ...rest } = (config ?? {}) as Record<string, unknown>
  if ('password' in rest) throw invalid(`${helper}: the password is the provider's token; leave out password`)
  if ('allowPlaintext' in rest || 'allowUnverifiedTls' in rest) {
    throw invalid(`${helper}: allowPlaintext and allowUnverifiedTls go in the third argument, not node-postgres's config`)
  }
  if (connectionString !== undefined && typeof connectionString !== 'string') {
    throw invalid(`${helper}: connectionString must be a string`)
  }
  const opts: HelperOptions = {
    allowPlaintext: (options as HelperOptions | undefined)?.allowPlaintext === true,
    allowUnverifiedTls: (options as HelperOptions | undefined)?.allowUnverifiedTls === true,
  }
  const kind = kindOf(provider)

  const out: Record<string, unknown> = { ...rest }
  let addTls: boolean
  const url = connectionString ? readConnectionString(connectionString, helper) : undefined
  if (url) {
    if (url.password) throw invalid(`${helper}: the password is the provider's token; leave it out of the connectionString`)
    // As node-postgres merges them: the string's settings over the config's.
    for (const [key, value] of Object.entries(url.fields)) {
      if (isSet(value)) out[key] = key === 'port' ? Number.parseInt(String(value), 10) : value
    }
  }
  if (url?.chosenBy !== undefined) {
    addTls = decide('node-postgres', urlSetting(url.ssl, url.chosenBy), helper, kind, opts, process.env.PGSSLMODE)
    out.ssl = url.ssl
  } else {
    addTls = pgTls(rest.ssl, helper, kind, opts)
  }

  out.password = passwordGetter(provider)
  const named = [out.host, process.env.PGHOST].find((h): h is string => typeof h === 'string' && h !== '')
  if (named === undefined && provider.host) out.host = provider.host
  if (addTls) out.ssl = verifiedTls(named ?? out.host)
  if (!callerNamedUser(out.user)) {
    out.user = await oneUser(provider, helper)
  }
  return out
}

/**
 * node-postgres config that logs in with the provider's tokens, for `new pg.Pool(…)`,
 * `new pg.Client(…)` and the ORMs on pg's Pool:
 * `new pg.Pool(await pgOptions(provider, { host, database: 'app', max: 20 }))`.
 *
 * - `password` is the provider's token, fetched by node-postgres for every new connection (a
 *   cache hit but for the first, and one identity request for any number of concurrent ones);
 * - `connectionString`: read as node-postgres reads it (its settings win over the same keys
 *   beside it; those it leaves empty do not; sslrootcert, sslcert and sslkey are read now) and
 *   handed back as those settings, since node-postgres would let its empty password override
 *   the token; a password in it is refused;
 * - `host` is `provider.host` when neither the config, the connection string nor PGHOST name one;
 * - `user`, when neither the config, the connection string nor PGUSER name one, is the role the
 *   token names (this may mint the first token now), else an INVALID_CONFIG error;
 * - TLS: when neither `ssl`, the connection string nor PGSSLMODE chose, verified TLS (Node's
 *   roots, the host name checked; for an IP address, against the address). Plaintext (a falsy
 *   `ssl`, `sslmode=disable`, a PGSSLMODE node-postgres reads as none) is refused unless
 *   `allowPlaintext`, TLS that checks no name (`rejectUnauthorized: false`, `no-verify`, a
 *   `checkServerIdentity` of your own, libpq's `prefer`, `require` and `verify-ca` under
 *   `uselibpqcompat=true`) unless `allowUnverifiedTls`. Refusals come before any token is minted.
 *
 * Rotation: node-postgres calls `password` for each new connection and has no hook that sees a
 * refused login, so a connection refused with `code === '28P01'` fails; the next one gets a
 * fresh token once the provider dropped the cached one (the source's refresh, a changed
 * `file://`, or `provider.passwordRefused(password)`). The user is read once, here: a source
 * whose username changes (Vault dynamic credentials) needs new options after a new lease.
 */
export function pgOptions<C extends object & { password?: never } = Record<never, never>>(provider: PgTokenSource,
  config?: C, options?: HelperOptions): Promise<PgOptions<C>> {
  return build(provider, config, options, HELPER) as Promise<PgOptions<C>>
}

/**
 * MikroORM 6's `driverOptions`: `{ connection }`, {@link pgOptions}' config, which MikroORM merges
 * into Knex's connection. (MikroORM 7 hands `driverOptions` to pg's Pool: give it pgOptions' config
 * as it is. pg reads a `connection` there as its own connection object, so this does not fit 7.)
 *
 * The password is the one thing that differs. MikroORM 6 hands a `password` that is
 * `instanceof Function` to Knex as a connection provider, which Knex calls once and keeps: every
 * later connection would get the first token, long expired, and Knex's settings would hold it
 * where util.inspect shows it. This one is not `instanceof Function` (its prototype is
 * Object.prototype), so MikroORM leaves it in the settings Knex hands node-postgres, which calls
 * it, as a method of each new Client, for the provider's current token. Any other caller (a
 * MikroORM that wraps it anyway) gets `{ password, expirationChecker }`, and Knex asks again
 * 30 s before the token expires (half its remaining life, if shorter) or once the provider
 * dropped it (`invalidate()`, `passwordRefused(password)`).
 *
 * MikroORM fills in a host, port and user of its own (127.0.0.1, 5432, postgres) where
 * node-postgres would read PGHOST, PGPORT and PGUSER, and merges `connection` over them: name
 * them in `config`.
 */
export async function mikroOrm6DriverOptions<C extends object & { password?: never } = Record<never, never>>(
  provider: PgTokenSource, config?: C, options?: HelperOptions): Promise<MikroOrm6DriverOptions<C>> {
  const pg = await build(provider, config, options, MIKRO_ORM_6_HELPER)
  const token = pg.password as () => Promise<string>
  const dynamic = async (): Promise<DynamicPassword> => {
    const info = await provider.tokenInfo()
    const now = Date.now()
    const expires = info.expiresAt.getTime()
    const stale = expires - Math.min(30_000, (expires - now) / 2)
    // Not a changed expiry: a refresh that lands between tokenInfo and Knex's first check would
    // make Knex throw ("still reported expired after refresh").
    const dropped = (): boolean => typeof provider.status === 'function' && provider.status().cached === false
    return { password: info.secret, expirationChecker: () => Date.now() >= stale || dropped() }
  }
  const password = function (this: unknown): Promise<string | DynamicPassword> {
    const client = typeof this === 'object' && this !== null && 'connectionParameters' in this
    return client ? token() : dynamic()
  }
  Object.setPrototypeOf(password, Object.prototype)
  return { connection: { ...pg, password } } as unknown as MikroOrm6DriverOptions<C>
}
