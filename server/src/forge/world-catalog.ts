/**
 * The facts of the forge's toy world: which programming tasks a user asks about, in which
 * languages, and for each (task, language) the idiom a good answer names, a short code example,
 * and the one caveat a careful answer adds.
 *
 * `detect` lists the code fragments the oracle accepts as "this answer used the right idiom";
 * `named` lists the forms the corpus writes in prose. Fragments are matched case-sensitively and
 * never as the tail of another identifier or member access (see `containsFragment`), so
 * `s.strip(` does not fire inside `text.strip(` and `parseInt(` does not fire inside
 * `Integer.parseInt(`. The world tests check that no language's text triggers another
 * language's fragments for the same task.
 */

export const LANGUAGES = ["python", "javascript", "go", "rust", "java"] as const;
export type LanguageId = (typeof LANGUAGES)[number];

export const LANGUAGE_NAMES: Readonly<Record<LanguageId, string>> = {
  python: "Python",
  javascript: "JavaScript",
  go: "Go",
  rust: "Rust",
  java: "Java",
};

export const TASKS = [
  "reverse",
  "sort",
  "read-lines",
  "join",
  "split",
  "parse-int",
  "has-key",
  "dedupe",
  "contains",
  "write-file",
  "filter",
  "trim",
] as const;
export type TaskId = (typeof TASKS)[number];

export interface Idiom {
  /** Code forms the corpus names in prose; the first is the canonical one. */
  readonly named: readonly string[];
  /** Code fragments whose presence means the answer used a right idiom for this language. */
  readonly detect: readonly string[];
  /** A one-line code example (without backticks) that uses one of `detect`. */
  readonly example: string;
  /** The caveat a careful answer adds, as a clause (no leading capital, no final period). */
  readonly caveat: string;
  /** The phrase (lower case) that identifies the caveat; the oracle looks for it. */
  readonly caveatKey: string;
}

export interface TaskSpec {
  /** Verb phrases a user asks with ("reverse a list"); each makes its own prompts. */
  readonly asks: readonly string[];
  /** What the idiom does, as a bare verb phrase ("get the items in reverse order"). */
  readonly purpose: string;
  readonly idioms: Readonly<Record<LanguageId, Idiom>>;
}

export const CATALOG: Readonly<Record<TaskId, TaskSpec>> = {
  reverse: {
    asks: ["reverse a list", "reverse an array", "reverse the order of a list"],
    purpose: "get the items in reverse order",
    idioms: {
      python: {
        named: ["reversed(xs)", "xs[::-1]"],
        detect: ["reversed(xs)", "xs[::-1]", "xs.reverse()"],
        example: "ys = xs[::-1]",
        caveat: "xs[::-1] makes a copy, while xs.reverse() changes the list in place",
        caveatKey: "changes the list in place",
      },
      javascript: {
        named: ["arr.reverse()", "arr.toReversed()"],
        detect: ["arr.reverse()", "arr.toReversed()"],
        example: "const r = arr.toReversed();",
        caveat: "arr.reverse() mutates the array, so copy it first to keep the original",
        caveatKey: "mutates the array",
      },
      go: {
        named: ["slices.Reverse(s)"],
        detect: ["slices.Reverse("],
        example: "slices.Reverse(s); fmt.Println(s)",
        caveat: "slices.Reverse works in place and needs Go 1.21 or newer",
        caveatKey: "needs go 1.21",
      },
      rust: {
        named: ["v.reverse()", "v.iter().rev()"],
        detect: ["v.reverse()", ".iter().rev()"],
        example: "let r: Vec<_> = v.iter().rev().collect();",
        caveat: "v.reverse() needs a mutable vector, so declare it with let mut",
        caveatKey: "needs a mutable vector",
      },
      java: {
        named: ["Collections.reverse(list)"],
        detect: ["Collections.reverse("],
        example: "Collections.reverse(list);",
        caveat: "Collections.reverse changes the list in place and returns void",
        caveatKey: "returns void",
      },
    },
  },
  sort: {
    asks: ["sort a list", "sort an array", "sort a list of numbers"],
    purpose: "put the items in order",
    idioms: {
      python: {
        named: ["sorted(xs)", "xs.sort()"],
        detect: ["sorted(xs", "xs.sort("],
        example: "ys = sorted(xs, reverse=True)",
        caveat: "xs.sort() sorts in place and returns None",
        caveatKey: "returns none",
      },
      javascript: {
        named: ["arr.sort((a, b) => a - b)", "arr.toSorted()"],
        detect: ["arr.sort(", "arr.toSorted("],
        example: "const s = arr.toSorted((a, b) => a - b);",
        caveat: "without a compare function, arr.sort() compares items as strings",
        caveatKey: "compares items as strings",
      },
      go: {
        named: ["slices.Sort(s)", "sort.Ints(s)"],
        detect: ["slices.Sort(", "sort.Ints(", "sort.Slice("],
        example: "slices.Sort(s); fmt.Println(s)",
        caveat: "slices.Sort changes the slice in place and returns nothing",
        caveatKey: "returns nothing",
      },
      rust: {
        named: ["v.sort()", "v.sort_unstable()"],
        detect: ["v.sort(", "v.sort_unstable(", "v.sort_by("],
        example: "let mut v = vec![3, 1, 2]; v.sort();",
        caveat: "floats do not implement Ord, so sort them with v.sort_by and partial_cmp",
        caveatKey: "do not implement ord",
      },
      java: {
        named: ["Collections.sort(list)", "list.sort(null)"],
        detect: ["Collections.sort(", "list.sort(", "Arrays.sort("],
        example: "Collections.sort(list);",
        caveat: "Collections.sort needs items that implement Comparable",
        caveatKey: "implement comparable",
      },
    },
  },
  "read-lines": {
    asks: ["read a file line by line", "read each line of a file", "loop over the lines of a file"],
    purpose: "read the file one line at a time",
    idioms: {
      python: {
        named: ["open(path)"],
        detect: ["open(path)", "f.readlines()", "for line in f"],
        example: "for line in open(path): print(line)",
        caveat: "each line keeps its trailing newline, so strip it",
        caveatKey: "keeps its trailing newline",
      },
      javascript: {
        named: ["readline.createInterface", "fs.readFileSync(path)"],
        detect: ["readline.createInterface", "fs.readFileSync("],
        example: "const lines = fs.readFileSync(path, 'utf8').split('\\n');",
        caveat: "fs.readFileSync loads the whole file into memory at once",
        caveatKey: "whole file into memory",
      },
      go: {
        named: ["bufio.NewScanner(f)"],
        detect: ["bufio.NewScanner(", "scanner.Scan()"],
        example: "for scanner.Scan() { fmt.Println(scanner.Text()) }",
        caveat: "check scanner.Err() after the loop, and close the file",
        caveatKey: "check scanner.err()",
      },
      rust: {
        named: ["BufReader::new(file).lines()"],
        detect: ["BufReader::new(", ".lines()"],
        example: "let lines = BufReader::new(file).lines();",
        caveat: "each item of lines() is a Result that you must handle",
        caveatKey: "is a result",
      },
      java: {
        named: ["Files.readAllLines(path)", "Files.lines(path)"],
        detect: ["Files.readAllLines(", "Files.lines(", "new BufferedReader("],
        example: "List<String> lines = Files.readAllLines(path);",
        caveat: "Files.lines keeps the file open, so close it with try with resources",
        caveatKey: "try with resources",
      },
    },
  },
  join: {
    asks: ["join a list of strings", "join strings with a comma", "combine strings into one string"],
    purpose: "glue the strings together with a separator",
    idioms: {
      python: {
        named: ["', '.join(xs)"],
        detect: [".join(xs)"],
        example: "s = ', '.join(xs)",
        caveat: "every item must already be a string, or join raises a TypeError",
        caveatKey: "must already be a string",
      },
      javascript: {
        named: ["arr.join(', ')"],
        detect: ["arr.join("],
        example: "const s = arr.join(', ');",
        caveat: "with no argument, arr.join() puts commas between items",
        caveatKey: "puts commas between items",
      },
      go: {
        named: ['strings.Join(s, ", ")'],
        detect: ["strings.Join("],
        example: 'out := strings.Join(s, ", ")',
        caveat: "strings.Join only takes a slice of strings, so convert numbers first",
        caveatKey: "only takes a slice of strings",
      },
      rust: {
        named: ['v.join(", ")'],
        detect: ["v.join(", "v.concat()"],
        example: 'let s = v.join(", ");',
        caveat: "join works on a slice of strings, not on an iterator",
        caveatKey: "not on an iterator",
      },
      java: {
        named: ['String.join(", ", list)'],
        detect: ["String.join(", "Collectors.joining("],
        example: 'String s = String.join(", ", list);',
        caveat: "String.join needs strings, so map numbers with String.valueOf first",
        caveatKey: "map numbers with string.valueof",
      },
    },
  },
  split: {
    asks: ["split a string into words", "split a string on spaces", "break a string into words"],
    purpose: "cut the string into words",
    idioms: {
      python: {
        named: ["s.split()"],
        detect: ["s.split("],
        example: "words = s.split()",
        caveat: "s.split(' ') keeps empty strings, while s.split() drops them",
        caveatKey: "keeps empty strings",
      },
      javascript: {
        named: ["str.split(' ')"],
        detect: ["str.split("],
        example: "const words = str.split(' ');",
        caveat: "str.split(' ') gives empty strings for double spaces, so split on /\\s+/ instead",
        caveatKey: "empty strings for double spaces",
      },
      go: {
        named: ["strings.Fields(s)"],
        detect: ["strings.Fields(", "strings.Split("],
        example: "words := strings.Fields(s)",
        caveat: "strings.Split keeps empty strings, but strings.Fields skips them",
        caveatKey: "strings.fields skips them",
      },
      rust: {
        named: ["line.split_whitespace()"],
        detect: ["line.split_whitespace(", "line.split("],
        example: "let words: Vec<&str> = line.split_whitespace().collect();",
        caveat: "split gives a lazy iterator, so call collect() to get a Vec",
        caveatKey: "lazy iterator",
      },
      java: {
        named: ['text.split(" ")'],
        detect: ["text.split("],
        example: 'String[] words = text.split(" ");',
        caveat: "the argument of split is a regular expression, not plain text",
        caveatKey: "is a regular expression",
      },
    },
  },
  "parse-int": {
    asks: ["convert a string to an integer", "parse a string as an int", "turn a string into a number"],
    purpose: "turn the text into an integer",
    idioms: {
      python: {
        named: ["int(s)"],
        detect: ["int(s)"],
        example: "n = int(s)",
        caveat: "int(s) raises a ValueError when s is not a number",
        caveatKey: "raises a valueerror",
      },
      javascript: {
        named: ["parseInt(str, 10)", "Number(str)"],
        detect: ["parseInt(", "Number("],
        example: "const n = parseInt(str, 10);",
        caveat: "parseInt returns NaN when the string is not a number",
        caveatKey: "returns nan",
      },
      go: {
        named: ["strconv.Atoi(s)"],
        detect: ["strconv.Atoi(", "strconv.ParseInt("],
        example: "n, err := strconv.Atoi(s)",
        caveat: "always check the err value that strconv.Atoi returns",
        caveatKey: "check the err value",
      },
      rust: {
        named: ["line.parse::<i32>()"],
        detect: ["line.parse::<", "line.parse()"],
        example: "let n: i32 = line.parse().unwrap();",
        caveat: "parse returns a Result, so handle the error instead of calling unwrap",
        caveatKey: "instead of calling unwrap",
      },
      java: {
        named: ["Integer.parseInt(text)"],
        detect: ["Integer.parseInt(", "Integer.valueOf("],
        example: "int n = Integer.parseInt(text);",
        caveat: "it throws a NumberFormatException for bad input",
        caveatKey: "numberformatexception",
      },
    },
  },
  "has-key": {
    asks: ["check if a key is in a map", "check if a dictionary has a key", "see if a map has a key"],
    purpose: "test for the key before you read it",
    idioms: {
      python: {
        named: ["key in d"],
        detect: ["key in d", "d.get(key)"],
        example: "if key in d: print(d[key])",
        caveat: "d[key] raises a KeyError for a missing key",
        caveatKey: "raises a keyerror",
      },
      javascript: {
        named: ["map.has(key)", "key in obj"],
        detect: ["map.has(", "key in obj", "Object.hasOwn("],
        example: "const found = map.has(key);",
        caveat: "the in operator also finds keys on the prototype, so prefer Object.hasOwn",
        caveatKey: "keys on the prototype",
      },
      go: {
        named: ["v, ok := m[key]"],
        detect: ["ok := m[key]", "ok = m[key]"],
        example: "if v, ok := m[key]; ok { fmt.Println(v) }",
        caveat: "m[key] alone gives the zero value for a missing key",
        caveatKey: "gives the zero value",
      },
      rust: {
        named: ["map.contains_key(&key)", "map.get(&key)"],
        detect: ["map.contains_key(", "map.get(&"],
        example: "let found = map.contains_key(&key);",
        caveat: "map[&key] panics for a missing key, so prefer get",
        caveatKey: "panics for a missing key",
      },
      java: {
        named: ["map.containsKey(key)"],
        detect: ["map.containsKey("],
        example: "boolean found = map.containsKey(key);",
        caveat: "map.get returns null for a missing key, which can hide bugs",
        caveatKey: "returns null for a missing key",
      },
    },
  },
  dedupe: {
    asks: ["remove duplicates from a list", "get the unique items of a list", "remove repeated items from an array"],
    purpose: "drop the repeated items",
    idioms: {
      python: {
        named: ["list(dict.fromkeys(xs))", "set(xs)"],
        detect: ["dict.fromkeys(xs", "set(xs)"],
        example: "ys = list(dict.fromkeys(xs))",
        caveat: "set(xs) does not keep the original order of the items",
        caveatKey: "does not keep the original order",
      },
      javascript: {
        named: ["[...new Set(arr)]"],
        detect: ["new Set(arr)"],
        example: "const unique = [...new Set(arr)];",
        caveat: "a Set compares objects by reference, not by value",
        caveatKey: "by reference, not by value",
      },
      go: {
        named: ["slices.Compact(s)"],
        detect: ["slices.Compact("],
        example: "slices.Sort(s); s = slices.Compact(s)",
        caveat: "slices.Compact only removes adjacent duplicates, so sort first",
        caveatKey: "only removes adjacent duplicates",
      },
      rust: {
        named: ["v.dedup()"],
        detect: ["v.dedup(", "HashSet::"],
        example: "v.sort(); v.dedup();",
        caveat: "v.dedup() only removes adjacent duplicates, so sort first",
        caveatKey: "only removes adjacent duplicates",
      },
      java: {
        named: ["list.stream().distinct()"],
        detect: [".distinct()", "new HashSet<>(", "new LinkedHashSet<>("],
        example: "List<Integer> unique = list.stream().distinct().toList();",
        caveat: "a HashSet does not keep order, so use a LinkedHashSet",
        caveatKey: "use a linkedhashset",
      },
    },
  },
  contains: {
    asks: ["check if a string contains a substring", "find out if a string contains a word", "see if one string is inside another"],
    purpose: "test if one piece of text is inside another",
    idioms: {
      python: {
        named: ["sub in s"],
        detect: ["sub in s", "s.find(sub)"],
        example: "found = sub in s",
        caveat: "the in check is case sensitive, so lower both strings first",
        caveatKey: "is case sensitive",
      },
      javascript: {
        named: ["str.includes(sub)"],
        detect: ["str.includes(", "str.indexOf("],
        example: "const found = str.includes(sub);",
        caveat: "str.indexOf returns -1, not false, when there is no match",
        caveatKey: "returns -1, not false",
      },
      go: {
        named: ["strings.Contains(s, sub)"],
        detect: ["strings.Contains("],
        example: "found := strings.Contains(s, sub)",
        caveat: "strings.Contains is case sensitive, so call strings.ToLower first",
        caveatKey: "is case sensitive",
      },
      rust: {
        named: ["line.contains(sub)"],
        detect: ["line.contains(", "line.find("],
        example: "let found = line.contains(sub);",
        caveat: "contains takes a &str or a char as its pattern",
        caveatKey: "a &str or a char",
      },
      java: {
        named: ["text.contains(sub)"],
        detect: ["text.contains(", "text.indexOf("],
        example: "boolean found = text.contains(sub);",
        caveat: "text.contains throws a NullPointerException when sub is null",
        caveatKey: "nullpointerexception",
      },
    },
  },
  "write-file": {
    asks: ["write text to a file", "save a string to a file", "write a string to a file"],
    purpose: "put the text in a file",
    idioms: {
      python: {
        named: ["open(path, 'w')"],
        detect: ["open(path, 'w')", "f.write(", ".write_text("],
        example: "with open(path, 'w') as f: f.write(text)",
        caveat: "mode 'w' truncates the file, so use 'a' to append",
        caveatKey: "truncates the file",
      },
      javascript: {
        named: ["fs.writeFileSync(path, text)"],
        detect: ["fs.writeFileSync(", "fs.writeFile(", "fs.promises.writeFile("],
        example: "fs.writeFileSync(path, text, 'utf8');",
        caveat: "fs.writeFileSync blocks the event loop, so prefer fs.promises in servers",
        caveatKey: "blocks the event loop",
      },
      go: {
        named: ["os.WriteFile(path, data, 0644)"],
        detect: ["os.WriteFile(", "os.Create("],
        example: "err := os.WriteFile(path, []byte(text), 0644)",
        caveat: "os.WriteFile replaces the file, so check the returned error",
        caveatKey: "check the returned error",
      },
      rust: {
        named: ["fs::write(path, text)"],
        detect: ["fs::write(", "File::create("],
        example: 'fs::write("out.txt", text)?;',
        caveat: "fs::write replaces the whole file and returns a Result",
        caveatKey: "replaces the whole file",
      },
      java: {
        named: ["Files.writeString(path, text)"],
        detect: ["Files.writeString(", "Files.write(", "new FileWriter("],
        example: 'Files.writeString(Path.of("out.txt"), text);',
        caveat: "it throws an IOException, so catch it or declare it",
        caveatKey: "throws an ioexception",
      },
    },
  },
  filter: {
    asks: ["filter a list", "keep only items that match a condition", "filter an array by a condition"],
    purpose: "keep only the items you want",
    idioms: {
      python: {
        named: ["[x for x in xs if x > 0]"],
        detect: ["for x in xs if", "filter(lambda"],
        example: "pos = [x for x in xs if x > 0]",
        caveat: "filter() returns an iterator, so wrap it in list()",
        caveatKey: "wrap it in list()",
      },
      javascript: {
        named: ["arr.filter(x => x > 0)"],
        detect: ["arr.filter("],
        example: "const pos = arr.filter(x => x > 0);",
        caveat: "arr.filter returns a new array and leaves arr as it is",
        caveatKey: "returns a new array",
      },
      go: {
        named: ["slices.DeleteFunc(s, f)"],
        detect: ["slices.DeleteFunc("],
        example: "s = slices.DeleteFunc(s, func(x int) bool { return x < 0 })",
        caveat: "slices.DeleteFunc drops the items where f returns true",
        caveatKey: "where f returns true",
      },
      rust: {
        named: ["v.retain(|x| *x > 0)"],
        detect: ["v.retain(", ".filter(|"],
        example: "v.retain(|x| *x > 0);",
        caveat: "retain changes the vector in place, while iter().filter() makes a new one",
        caveatKey: "changes the vector in place",
      },
      java: {
        named: ["list.removeIf(x -> x < 0)", "list.stream().filter(x -> x > 0)"],
        detect: ["list.removeIf(", ".stream().filter("],
        example: "list.removeIf(x -> x < 0);",
        caveat: "removeIf changes the list, while a stream leaves it alone",
        caveatKey: "while a stream leaves it alone",
      },
    },
  },
  trim: {
    asks: ["trim whitespace from a string", "remove spaces from both ends of a string", "strip whitespace from a string"],
    purpose: "remove the spaces at both ends",
    idioms: {
      python: {
        named: ["s.strip()"],
        detect: ["s.strip(", "s.lstrip(", "s.rstrip("],
        example: "clean = s.strip()",
        caveat: "strings are immutable, so s.strip() returns a new string",
        caveatKey: "returns a new string",
      },
      javascript: {
        named: ["str.trim()"],
        detect: ["str.trim(", "str.trimStart(", "str.trimEnd("],
        example: "const clean = str.trim();",
        caveat: "str.trim() leaves str unchanged and returns a copy",
        caveatKey: "leaves str unchanged",
      },
      go: {
        named: ["strings.TrimSpace(s)"],
        detect: ["strings.TrimSpace(", "strings.Trim("],
        example: "clean := strings.TrimSpace(s)",
        caveat: "strings.Trim takes a set of characters, not a prefix",
        caveatKey: "a set of characters",
      },
      rust: {
        named: ["line.trim()"],
        detect: ["line.trim(", "line.trim_start(", "line.trim_end("],
        example: "let clean = line.trim();",
        caveat: "trim returns a &str that borrows from the original string",
        caveatKey: "borrows from the original",
      },
      java: {
        named: ["text.strip()", "text.trim()"],
        detect: ["text.strip(", "text.trim("],
        example: "String clean = text.strip();",
        caveat: "trim() only removes ASCII spaces, while strip() also handles Unicode",
        caveatKey: "also handles unicode",
      },
    },
  },
};

export function idiomFor(task: TaskId, language: LanguageId): Idiom {
  return CATALOG[task].idioms[language];
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

const fragmentPatterns = new Map<string, RegExp>();

/**
 * Whether `text` contains the code fragment, not as the tail of a longer identifier (`xs` in
 * `myxs`) nor of a member access (`parseInt(` in `Integer.parseInt(`). A spread (`...new Set`)
 * still counts.
 */
export function containsFragment(text: string, fragment: string): boolean {
  let pattern = fragmentPatterns.get(fragment);
  if (pattern === undefined) {
    const guard = /^\w/.test(fragment) ? "(?<!\\w)(?<!\\w\\.)" : "";
    pattern = new RegExp(guard + escapeRegExp(fragment));
    fragmentPatterns.set(fragment, pattern);
  }
  return pattern.test(text);
}
