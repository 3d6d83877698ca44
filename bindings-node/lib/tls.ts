/**
 * node-postgres's and Postgres.js's TLS settings read into the core's decision (core/src/driver_tls.rs: which
 * choices are refused without which opt-in, and every message). Mirrors the Python package's
 * `passmint/_helpers.py`.
 */

import { decideTls } from './native'
import { translated } from './errors'

declare const process: { env: Record<string, string | undefined> }
declare function require(id: 'node:net'): { isIP(input: string): number }
declare function require(id: 'node:tls'): { checkServerIdentity(hostname: string, cert: unknown): Error | undefined }

export interface HelperOptions {
  /** Let the helper send tokens over a connection the caller configured without TLS. */
  allowPlaintext?: boolean
  /**
   * Let the helper send tokens over TLS that does not check the server's name (`PGSSLMODE=no-verify`,
   * `rejectUnauthorized: false`, a `checkServerIdentity` of your own). Whoever answers on the path
   * then gets a token that other servers of its audience accept.
   */
  allowUnverifiedTls?: boolean
}

/** The verified TLS a helper adds when nothing chose. */
export interface VerifiedTls {
  rejectUnauthorized: true
  checkServerIdentity?: (name: string, cert: unknown) => Error | undefined
}

/** What the caller chose, read from the driver's settings (core/src/driver_tls.rs `Setting`). */
export interface TlsSetting {
  setting: 'unset' | 'mode' | 'off' | 'verified' | 'unverified'
  value?: string
  source?: string
  shown?: string
}

/** A `tls.connect` options object as the caller gave it: verified unless it turns a check off. */
export function objectSetting(ssl: object): TlsSetting {
  if ((ssl as { rejectUnauthorized?: unknown }).rejectUnauthorized === false) {
    return { setting: 'unverified', shown: 'ssl: { rejectUnauthorized: false }' }
  }
  if (typeof (ssl as { checkServerIdentity?: unknown }).checkServerIdentity === 'function') {
    return { setting: 'unverified', shown: "ssl: { checkServerIdentity } (your own, in place of Node's host name check)" }
  }
  return { setting: 'verified' }
}

/**
 * Whether to add verified TLS (`true`), or leave the caller's choice as it is (`false`); throws a
 * PassmintError for a choice the core refuses.
 */
export function decide(driver: 'node-postgres' | 'postgres.js', choice: TlsSetting, helper: string, provider: string,
  options: HelperOptions, pgsslmode?: string): boolean {
  try {
    return decideTls({
      driver, ...choice, pgsslmode, provider, helper,
      allowPlaintext: options.allowPlaintext === true, allowUnverifiedTls: options.allowUnverifiedTls === true,
    })
  } catch (e) {
    throw translated(e)
  }
}

/** {@link decide} for node-postgres's `ssl` option as given (PGSSLMODE decides when it is unset). */
export function pgTls(ssl: unknown, helper: string, provider: string, options: HelperOptions): boolean {
  let choice: TlsSetting
  if (ssl === undefined || ssl === null) {
    choice = { setting: 'unset' }
  } else if (!ssl) {
    choice = { setting: 'off', shown: `ssl: ${JSON.stringify(ssl)}` }
  } else if (typeof ssl === 'object') {
    choice = objectSetting(ssl)
  } else {
    choice = { setting: 'verified' }
  }
  return decide('node-postgres', choice, helper, provider, options, process.env.PGSSLMODE)
}

/**
 * The verified TLS the helper adds. For a server reached by IP address node-postgres sets no
 * `servername` (SNI cannot carry one) and, before 8.23.1, no `host` either, so Node checked the
 * certificate against "localhost": here the check is made against the address itself.
 */
export function verifiedTls(host: unknown): VerifiedTls {
  if (typeof host !== 'string' || require('node:net').isIP(host) === 0) return { rejectUnauthorized: true }
  const { checkServerIdentity } = require('node:tls')
  return { rejectUnauthorized: true, checkServerIdentity: (_name, cert) => checkServerIdentity(host, cert) }
}
