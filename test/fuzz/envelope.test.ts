/** Property-based fuzzing of the envelope code (properties in ./properties/envelope.ts, shared with `npm run fuzz`). */
import { before, test } from "node:test";
import { fuzzReady } from "./properties/harness.js";
import { envelopeProperties } from "./properties/envelope.js";

before(fuzzReady);

for (const property of envelopeProperties) {
  test(property.name, () => {
    property.run(property.ciRuns);
  });
}
