// The logistic student in the browser: the text cleaning of distill.preprocessing.clean,
// scikit-learn's TfidfVectorizer as distill.preprocessing.TfidfTransform redoes it, then
// softmax(x W + b), from the JSON of `python -m distill.export <run> --format web`.
//
// Python's `re` treats \w as a letter, a number or "_" (Unicode categories L*, N*), while
// JavaScript's \w and \b are ASCII even with the u flag: hence [\p{L}\p{N}_] below. A run of
// two or more of them is what (?u)\b\w\w+\b finds. Characters newer than Python's Unicode
// tables can still differ.

const WORD = "[\\p{L}\\p{N}_]";
const TOKEN = new RegExp(`${WORD}{2,}`, "gu");
// A Usenet header field at the start of a line of the first block (HEADER_FIELD in preprocessing.py).
const HEADER_FIELD = new RegExp(
  "^(From|Subject|Newsgroups|Path|Organization|Lines|Message-ID|Date|Sender|Reply-To|" +
    "Distribution|NNTP-Posting-Host|Keywords|Summary|References|Followup-To|Expires|" +
    "Article-I\\.D\\.|X-[\\p{L}\\p{N}_-]+): ",
  "mu",
);
const QUOTE_LINE = /(writes in|writes:|wrote:|says:|said:|^In article|^Quoted from|^\||^>)/;
// What Python's str.strip() removes (str.isspace): not the same set as String.prototype.trim.
const SPACE = "[\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
const EDGE_SPACE = new RegExp(`^${SPACE}+|${SPACE}+$`, "g");

export function pyStrip(text) {
  return text.replace(EDGE_SPACE, "");
}

function stripHeader(text) {
  const blank = text.indexOf("\n\n");
  return blank < 0 ? "" : text.slice(blank + 2);
}

function stripFooter(text) {
  const lines = pyStrip(text).split("\n");
  let separator = 0;
  for (let index = lines.length - 1; index >= 0; index--) {
    if (/^-*$/.test(pyStrip(lines[index]))) {
      separator = index;
      break;
    }
  }
  return separator > 0 ? lines.slice(0, separator).join("\n") : text;
}

function stripQuotes(text) {
  return text.split("\n").filter((line) => !QUOTE_LINE.test(line)).join("\n");
}

const STRIPPERS = { headers: stripHeader, footers: stripFooter, quotes: stripQuotes };

/** The text as training saw it; the header block only comes off when it holds a header field. */
export function clean(text, cleaning) {
  const strip = (cleaning && cleaning.strip) || [];
  const blank = text.indexOf("\n\n");
  const firstBlock = blank < 0 ? text : text.slice(0, blank);
  const parts = HEADER_FIELD.test(firstBlock) ? strip : strip.filter((part) => part !== "headers");
  for (const part of ["headers", "footers", "quotes"]) {
    if (parts.includes(part)) text = STRIPPERS[part](text);
  }
  return text;
}

function float32s(base64) {
  const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
  return new Float32Array(bytes.buffer); // little-endian, as every browser's platform is
}

export class LogisticStudent {
  constructor(spec) {
    this.name = spec.model;
    this.labels = spec.labels;
    this.cleaning = spec.cleaning;
    this.lowercase = spec.lowercase;
    [this.minN, this.maxN] = spec.ngram_range;
    this.sublinear = spec.sublinear_tf;
    this.norm = spec.norm;
    this.columns = new Map(spec.terms.map((term, column) => [term, column]));
    this.idf = float32s(spec.idf);
    this.weights = float32s(spec.weights);
    this.bias = float32s(spec.bias);
    this.classes = this.bias.length;
  }

  /** Word n-grams, joined by a space, as scikit-learn's _word_ngrams makes them. */
  terms(text) {
    const tokens = (this.lowercase ? text.toLowerCase() : text).match(TOKEN) || [];
    const terms = [];
    for (let n = this.minN; n <= this.maxN; n++) {
      for (let i = 0; i + n <= tokens.length; i++) terms.push(tokens.slice(i, i + n).join(" "));
    }
    return terms;
  }

  /** One document's TF-IDF row: sorted columns and float32 weights, rounded as numpy rounds them. */
  row(text) {
    const counts = new Map();
    for (const term of this.terms(text)) {
      const column = this.columns.get(term);
      if (column !== undefined) counts.set(column, (counts.get(column) || 0) + 1);
    }
    const columns = [...counts.keys()].sort((a, b) => a - b);
    const f = Math.fround;
    let weights = columns.map((column) => {
      const tf = this.sublinear ? f(f(Math.log(counts.get(column))) + 1) : counts.get(column);
      return f(tf * this.idf[column]);
    });
    if (this.norm === "l2" && weights.length) {
      const norm = Math.sqrt(weights.reduce((sum, w) => sum + f(w * w), 0));
      weights = weights.map((w) => f(w / norm));
    }
    return { columns, weights };
  }

  /** Class probabilities for a raw text. */
  predictProba(text) {
    const { columns, weights } = this.row(clean(text, this.cleaning));
    const logits = Float64Array.from(this.bias);
    columns.forEach((column, i) => {
      const offset = column * this.classes;
      for (let k = 0; k < this.classes; k++) logits[k] += weights[i] * this.weights[offset + k];
    });
    const top = Math.max(...logits);
    const exp = logits.map((logit) => Math.exp(logit - top));
    const total = exp.reduce((sum, value) => sum + value, 0);
    return exp.map((value) => value / total);
  }
}
