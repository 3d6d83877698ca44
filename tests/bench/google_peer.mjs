// google-auth-library, the Node peer of `gcp://`, for the benchmarks: a client for the key in
// GOOGLE_APPLICATION_CREDENTIALS. It posts to Google's token endpoint whatever the key's
// token_uri says; an interceptor on its own transporter sends that request to the mock instead
// (PASSMINT_TEST_MOCK_HTTPS), nothing else changed.

export const SQL_LOGIN = 'https://www.googleapis.com/auth/sqlservice.login'
export const TOKEN_PATH = '/gcp/oauth2/token'

export async function googleAuthClient(require) {
  const { GoogleAuth } = require('google-auth-library')
  const client = await new GoogleAuth({ scopes: [SQL_LOGIN] }).getClient()
  client.transporter.interceptors.request.add({
    resolved: async (options) => {
      if (String(options.url).startsWith('https://oauth2.googleapis.com/token')) {
        options.url = new URL(`${process.env.PASSMINT_TEST_MOCK_HTTPS}${TOKEN_PATH}`)
      }
      return options
    },
  })
  return client
}
