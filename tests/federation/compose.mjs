// Composes subgraph SDL files into a supergraph with Apollo's composition library, as a gateway
// would. Usage: node compose.mjs NAME=FILE NAME=FILE... Prints the supergraph's size, or every
// composition error and exits 1.
import { readFileSync } from "node:fs";
import { composeServices } from "@apollo/composition";
import { parse } from "graphql";

const services = process.argv.slice(2).map((arg) => {
  const [name, file] = arg.split("=");
  return { name, url: `http://${name}.invalid/graphql`, typeDefs: parse(readFileSync(file, "utf8")) };
});
if (services.length < 2) {
  console.error("usage: node compose.mjs NAME=FILE NAME=FILE...");
  process.exit(2);
}
const result = composeServices(services);
if (result.errors && result.errors.length > 0) {
  for (const e of result.errors) console.error(`${e.extensions?.code ?? "ERROR"}: ${e.message}`);
  process.exit(1);
}
for (const h of result.hints ?? []) console.error(`hint ${h.definition.code}: ${h.message}`);
console.log(`composed ${services.map((s) => s.name).join(" + ")}: supergraph of ${result.supergraphSdl.length} bytes`);
