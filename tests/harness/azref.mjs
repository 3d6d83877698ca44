// Reference Azure tokens from @azure/identity (JS), the counterpart of harness/azref.py:
//   node harness/azref.mjs <managed|cli|azd> [--client-id ID] [--object-id ID] [--resource-id ID]
// Prints one JSON line: {"token", "expires_on"} (exit 0) or {"error", "message"} (exit 1).
import { AzureCliCredential, AzureDeveloperCliCredential, ManagedIdentityCredential } from "@azure/identity";

const SCOPE = "https://ossrdbms-aad.database.windows.net/.default";
const [kind, ...rest] = process.argv.slice(2);
const opts = {};
for (let i = 0; i < rest.length; i += 2) opts[rest[i].replace(/^--/, "")] = rest[i + 1];

function credential() {
  if (kind === "managed") {
    if (opts["client-id"]) return new ManagedIdentityCredential({ clientId: opts["client-id"] });
    if (opts["object-id"]) return new ManagedIdentityCredential({ objectId: opts["object-id"] });
    if (opts["resource-id"]) return new ManagedIdentityCredential({ resourceId: opts["resource-id"] });
    return new ManagedIdentityCredential();
  }
  if (kind === "cli") return new AzureCliCredential();
  if (kind === "azd") return new AzureDeveloperCliCredential();
  throw new Error(`unknown kind ${kind}`);
}

let out;
try {
  const token = await credential().getToken(SCOPE);
  out = { token: token.token, expires_on: Math.floor(token.expiresOnTimestamp / 1000) };
} catch (e) {
  out = { error: e?.name ?? "Error", message: String(e?.message ?? e).split("\n")[0] };
}
process.stdout.write(JSON.stringify(out) + "\n");
process.exit("token" in out ? 0 : 1);
