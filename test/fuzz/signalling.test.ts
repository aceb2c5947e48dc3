/** Property-based fuzzing of the signalling code (properties in ./properties/signalling.ts, shared with `npm run fuzz`). */
import { before, test } from "node:test";
import { fuzzReady } from "./properties/harness.js";
import { signallingProperties } from "./properties/signalling.js";

before(fuzzReady);

for (const property of signallingProperties) {
  test(property.name, () => {
    property.run(property.ciRuns);
  });
}
