// Mints a JWT with nothing but Node's built-in crypto, as another language's backend would:
// stdin is {"alg": "HS256" | "RS256" | "ES256", "key": "<secret or private key PEM>", "kid": …, "claims": {…}},
// stdout the token. Used by tests/test_jwt.py; docs/tokens.md shows the same steps.
"use strict";
const crypto = require("node:crypto");

const b64url = (data) => Buffer.from(data).toString("base64url");

function mint({ alg, key, kid, claims }) {
  const header = { alg, typ: "JWT", ...(kid ? { kid } : {}) };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  let signature;
  if (alg === "HS256") {
    signature = crypto.createHmac("sha256", key).update(input).digest();
  } else if (alg === "RS256") {
    signature = crypto.sign("sha256", Buffer.from(input), key);
  } else if (alg === "ES256") {
    signature = crypto.sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" });
  } else {
    throw new Error(`unsupported alg ${alg}`);
  }
  return `${input}.${b64url(signature)}`;
}

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => process.stdout.write(mint(JSON.parse(input))));
