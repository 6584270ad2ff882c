// Spectral custom function (Casellario): property names of every schema in the
// document follow ONE convention, snake_case or camelCase. Names of one
// lowercase word fit both. The convention is the one most names use; the
// others are reported, as is any name that fits neither. Schemas marked
// `x-nomi-esterni: true` mirror an external format with its official names
// (e.g. the INPS XSD) and are skipped with everything inside them; example
// values and vendor extensions are data, not schemas, and are skipped too.

const SNAKE = /^[a-z][a-z0-9]*(_[a-z0-9]+)+$/;
const CAMEL = /^[a-z][a-z0-9]*([A-Z][a-z0-9]*)+$/;
const WORD = /^[a-z][a-z0-9]*$/;

function walk(node, path, found, seen) {
  if (node === null || typeof node !== "object" || seen.has(node)) return;
  seen.add(node);
  if (Array.isArray(node)) {
    node.forEach((item, i) => walk(item, path.concat(i), found, seen));
    return;
  }
  if (node["x-nomi-esterni"] === true) return;
  const props = node.properties;
  if (props && typeof props === "object" && !Array.isArray(props)) {
    for (const name of Object.keys(props)) {
      found.push({ name, path: path.concat("properties", name) });
    }
  }
  for (const [key, value] of Object.entries(node)) {
    if (key === "example" || key === "examples" || key.startsWith("x-")) continue;
    walk(value, path.concat(key), found, seen);
  }
}

module.exports = function consistentPropertyCasing(targetVal) {
  const found = [];
  walk(targetVal, [], found, new Set());
  const snake = found.filter((f) => SNAKE.test(f.name));
  const camel = found.filter((f) => CAMEL.test(f.name));
  const odd = found.filter((f) => !WORD.test(f.name) && !SNAKE.test(f.name) && !CAMEL.test(f.name));
  const style = snake.length >= camel.length ? "snake_case" : "camelCase";
  const minority = style === "snake_case" ? camel : snake;
  const results = [];
  for (const f of minority) {
    results.push({
      message: `Proprietà "${f.name}" non in ${style}, la convenzione del documento (RAC_REST_NAME_001).`,
      path: f.path,
    });
  }
  for (const f of odd) {
    results.push({
      message: `Proprietà "${f.name}" né in snake_case né in camelCase (RAC_REST_NAME_001).`,
      path: f.path,
    });
  }
  return results;
};
