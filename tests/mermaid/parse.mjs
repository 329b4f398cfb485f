// Reads Mermaid diagrams (a JSON list of strings) on stdin and prints, as JSON, for each one
// null if Mermaid's own parser takes it, else its error. Mermaid wants a DOM: jsdom gives one.
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!DOCTYPE html><html><body></body></html>", { pretendToBeVisual: true });
globalThis.window = dom.window;
globalThis.document = dom.window.document;
globalThis.DOMParser = dom.window.DOMParser;
globalThis.Element = dom.window.Element;
Object.defineProperty(globalThis, "navigator", { value: dom.window.navigator, configurable: true });
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });

let input = "";
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const diagram of JSON.parse(input)) {
  try {
    await mermaid.parse(diagram);
    results.push(null);
  } catch (error) {
    results.push(String(error.message || error).slice(0, 500));
  }
}
process.stdout.write(JSON.stringify(results));
