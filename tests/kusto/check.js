// Checks KQL text with Microsoft's own Kusto parser (@kusto/language-service-next, the
// Kusto.Language library compiled to JavaScript), so the tests need no Kusto cluster.
//
// stdin:  {"schema": {"<Table>": {"<Column>": "<type>", ...}, ...},
//          "database": "<name>", "queries": ["...", ...], "tokens": ["...", ...]}
// stdout: {"queries": [[{"code", "message", "start", "length"}, ...], ...],
//          "tokens":  [[{"kind", "text", "trivia", "value"?, "diagnostics"}, ...], ...]}
//
// "queries" holds, per query, its Error diagnostics after parsing AND semantic analysis
// against a database made of the given tables (unknown columns, wrong types, bad syntax all
// count). "tokens" holds, per text, what the Kusto lexer makes of it; string literals also
// carry "value", the string Kusto decodes from the literal. One process answers a whole batch:
// loading and warming up the library takes about two CPU seconds, then a full hunt query about
// 50 ms and a small one about a millisecond.
"use strict";

require("@kusto/language-service-next/bridge.min.js");
require("@kusto/language-service-next/Kusto.Language.Bridge.min.js");

/* global Kusto, System */
const K = Kusto.Language;

// Defender XDR column types and the Kusto scalar type each one is. Anything else is refused,
// so a typo in the schema file cannot silently become a column of an unexpected type.
const KUSTO_TYPES = {
  string: "string",
  long: "long",
  int: "int",
  datetime: "datetime",
  bool: "bool",
  dynamic: "dynamic",
};

// A .NET list (Count/getItem) or a plain array (Bridge compiles C# arrays to JS arrays) as an array.
function list(items) {
  if (items == null) return [];
  if (Array.isArray(items)) return items;
  const out = [];
  for (let i = 0; i < items.Count; i++) out.push(items.getItem(i));
  return out;
}

function kindName(kind) {
  return System.Enum.getName(K.Syntax.SyntaxKind, kind) || String(kind);
}

// ['Name'] quoting keeps column names that are also keywords (Type, ...) plain names.
function quoteName(name) {
  return "['" + name.replace(/\\/g, "\\\\").replace(/'/g, "\\'") + "']";
}

function globalsFor(schema, database) {
  const tables = Object.entries(schema).map(([table, columns]) => {
    const parts = Object.entries(columns).map(([column, type]) => {
      const kusto = KUSTO_TYPES[type];
      if (kusto === undefined) {
        throw new Error(`table ${table}, column ${column}: unknown type ${JSON.stringify(type)}`);
      }
      return `${quoteName(column)}:${kusto}`;
    });
    const symbol = K.Symbols.TableSymbol.From("(" + parts.join(", ") + ")").WithName(table);
    if (symbol.Columns.Count !== parts.length) {
      throw new Error(`table ${table}: Kusto read ${symbol.Columns.Count} of ${parts.length} columns`);
    }
    return symbol;
  });
  const db = new K.Symbols.DatabaseSymbol.$ctor2(database, null, tables);
  return K.GlobalState.Default.WithDatabase(db);
}

function errorsOf(query, globals) {
  try {
    const code = K.KustoCode.ParseAndAnalyze(query, globals);
    return list(code.GetDiagnostics())
      .filter((d) => d.Severity === K.DiagnosticSeverity.Error)
      .map((d) => ({ code: d.Code, message: d.Message, start: d.Start, length: d.Length }));
  } catch (exc) {
    // Reported as an error of this query, so one bad input cannot hide the others' results.
    return [{ code: "check.js", message: `the parser threw: ${exc && exc.message}`, start: 0, length: 0 }];
  }
}

function tokensOf(text) {
  return K.Parsing.TokenParser.ParseTokens(text, null).map((token) => {
    const entry = {
      kind: kindName(token.Kind),
      text: token.Text,
      trivia: token.Trivia,
      diagnostics: list(token.Diagnostics).map((d) => `${d.Code}: ${d.Message}`),
    };
    if (entry.kind === "StringLiteralToken") entry.value = K.KustoFacts.GetStringLiteralValue(token.Text);
    return entry;
  });
}

function main(input) {
  const request = JSON.parse(input);
  const queries = request.queries || [];
  const texts = request.tokens || [];
  const globals = globalsFor(request.schema || {}, request.database || "hunting");
  const result = {
    queries: queries.map((q) => errorsOf(q, globals)),
    tokens: texts.map(tokensOf),
  };
  process.stdout.write(JSON.stringify(result));
}

const chunks = [];
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => chunks.push(chunk));
process.stdin.on("end", () => {
  try {
    main(chunks.join(""));
  } catch (exc) {
    process.stderr.write(`check.js: ${exc && exc.stack ? exc.stack : exc}\n`);
    process.exitCode = 2;
  }
});
