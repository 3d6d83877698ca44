/**
 * `Provider.fromFunction`'s JS half: the core asks (on its own thread, through a threadsafe
 * function) and this calls the user's function on the event loop, then settles the call with
 * the answer or the error. The cache, the single flight, the deadline and the backoff are the
 * core's. Mirrors the Python package's `passmint/_callback.py`.
 */

import { settleCallback, settleCredentials } from './native'
import { PassmintError } from './errors'

/** What a token function returns (or resolves with). `expiresAt`: unix seconds or a Date. */
export interface TokenAnswer {
  token: string
  expiresAt: number | Date
  username?: string | null
}

/** A token function: sync or async. */
export type TokenFunction = () => TokenAnswer | Promise<TokenAnswer>

const SHAPE = 'return { token: string, expiresAt: unix seconds or a Date, username?: string }'

function refused(what: string): PassmintError {
  return new PassmintError('PASSMINT_PROVIDER_RESPONSE', `the token function ${what}; ${SHAPE}`)
}

function answerOf(value: unknown): [string, number, string | null] {
  if (typeof value !== 'object' || value === null) {
    throw refused(`returned ${value === null ? 'null' : typeof value}`)
  }
  const { token, expiresAt, username } = value as Record<string, unknown>
  if (typeof token !== 'string') throw refused(`returned a token that is ${token === undefined ? 'missing' : typeof token}`)
  let seconds: number
  if (expiresAt instanceof Date) {
    seconds = Math.floor(expiresAt.getTime() / 1000)
  } else if (typeof expiresAt === 'number' && Number.isFinite(expiresAt)) {
    seconds = Math.floor(expiresAt)
  } else {
    throw refused(`returned an expiresAt that is ${expiresAt === undefined ? 'missing' : typeof expiresAt}`)
  }
  if (username !== undefined && username !== null && typeof username !== 'string') {
    throw refused('returned a username that is not a string')
  }
  return [token, seconds, (username as string | null | undefined) ?? null]
}

/** What the native side calls with a call's id. */
export function trampoline(fn: TokenFunction): (id: number) => void {
  return (id: number) => {
    Promise.resolve()
      .then(() => fn())
      .then((value) => {
        const [token, expiresAt, username] = answerOf(value)
        settleCallback(id, token, expiresAt, username, null, null)
      })
      .catch((e: unknown) => {
        if (e instanceof PassmintError) {
          settleCallback(id, null, null, null, e.code.slice('PASSMINT_'.length), e.message)
        } else {
          const name = e instanceof Error ? e.name : typeof e
          const message = e instanceof Error ? e.message : String(e)
          settleCallback(id, null, null, null, null, `the token function threw ${name}: ${message}`)
        }
      })
  }
}

/** AWS credentials as the `@aws-sdk` credential providers resolve them. */
export interface AwsCredentialIdentity {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
  expiration?: Date
}

/**
 * The caller's AWS credentials for `dsql()`/`rds()`: an `@aws-sdk` credential provider as it is
 * (`fromIni({ profile })`, `fromNodeProviderChain()`, the DSQL connector's
 * `customCredentialsProvider`), any async function resolving such an identity, or a fixed one.
 */
export type AwsCredentialsSource = AwsCredentialIdentity | (() => AwsCredentialIdentity | Promise<AwsCredentialIdentity>)

const CREDENTIALS_SHAPE = 'resolve { accessKeyId, secretAccessKey, sessionToken?, expiration?: Date }'

function credentialsOf(value: unknown): [string, string, string | null, number | null] {
  const c = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>
  if (typeof c.accessKeyId !== 'string' || typeof c.secretAccessKey !== 'string') {
    throw new PassmintError('PASSMINT_PROVIDER_RESPONSE', `the AWS credentials lack accessKeyId or secretAccessKey; ${CREDENTIALS_SHAPE}`)
  }
  const token = typeof c.sessionToken === 'string' && c.sessionToken !== '' ? c.sessionToken : null
  const expiration = c.expiration instanceof Date ? Math.floor(c.expiration.getTime() / 1000) : null
  return [c.accessKeyId, c.secretAccessKey, token, expiration]
}

/** What the native side calls with a credentials call's id. */
export function credentialsTrampoline(source: AwsCredentialsSource): (id: number) => void {
  const resolve = typeof source === 'function' ? source : () => source
  return (id: number) => {
    Promise.resolve()
      .then(() => resolve())
      .then((value) => {
        const [key, secret, token, expiresAt] = credentialsOf(value)
        settleCredentials(id, key, secret, token, expiresAt, null, null)
      })
      .catch((e: unknown) => {
        if (e instanceof PassmintError) {
          settleCredentials(id, null, null, null, null, e.code.slice('PASSMINT_'.length), e.message)
        } else {
          const name = e instanceof Error ? e.name : typeof e
          const message = e instanceof Error ? e.message : String(e)
          settleCredentials(id, null, null, null, null, null, `the AWS credential provider threw ${name}: ${message}`)
        }
      })
  }
}
