"""The `solver` command: parse options, call one library function, print."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import stat
import sys
import threading
import unicodedata
from pathlib import Path

from .core.errors import InternalError, SolverError, UsageError, bug_text

MAX_ANSWER_BYTES = 1_000_000    # more is cut; the answer grammar rejects it as too long
EPILOG = ("Exit status: 0 success (check: correct), 1 check: incorrect, 2 invalid input or answer, "
          "3 a bug in the tool.")


def main(argv=None) -> int:
    # The tool's matrices are tiny: a BLAS thread pool gains nothing and costs each process
    # about 50 ms of CPU to start (read when numpy is first imported, so set before).
    for variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    parser = build_parser()
    argv, answer = answer_apart(sys.argv[1:] if argv is None else list(argv))
    args = parser.parse_args(argv)
    if answer is not None:
        args.text = answer
    try:
        with sigterm_exits():
            return args.run(args)
    except SolverError as error:
        print(f"solver: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:              # `solver solve ... | head`: the reader left
        sys.stderr.close()
        return 0
    except Exception as error:           # not the input's fault: a bug, said in one line
        if args.debug:
            import traceback        # only here: it costs every run 2 ms to import
            traceback.print_exc()
        print(bug_line(error, args.debug), file=sys.stderr)
        return 3


def bug_line(error: Exception, debug: bool) -> str:
    """One line for an unexpected error: a bug in the tool, and where it happened."""
    where = f" while {error.doing}" if isinstance(error, InternalError) else ""
    hint = "" if debug else " (rerun with --debug for the traceback)"
    return f"solver: internal error{where}: {bug_text(error)}. This is a bug in solver, not in your input{hint}."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="solver", description="Worked solutions and answer checking for deep-learning homework.",
        epilog=EPILOG)
    parser.add_argument("--debug", action="store_true",
                        help="on an internal error (a bug in the tool, exit status 3), print its traceback")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    kinds = commands.add_parser("kinds", help="list the problem kinds, their fields and answers")
    kinds.set_defaults(run=run_kinds)

    solve = commands.add_parser("solve", help="solve a problem file and print the derivations",
                                epilog=EPILOG)
    solve.add_argument("file", help="a problem file (YAML), e.g. problems/cpen455-hw2.yaml")
    solve.add_argument("--problem", metavar="ID", help="only this problem")
    solve.add_argument("--format", default="md", choices=("md", "latex", "text", "json"),
                       help="output format (default: md)")
    solve.add_argument("--output", metavar="DIR", help="write FILE-stem.EXT into DIR instead of printing")
    solve.set_defaults(run=run_solve)

    check = commands.add_parser("check", help="check one answer to one problem", epilog=EPILOG)
    check.add_argument("file", help="the problem file")
    check.add_argument("target", metavar="ID[:ANSWER]",
                       help="problem id, optionally with the answer name (default: its first answer)")
    check.add_argument("text", nargs="?", help='the answer, e.g. "[[1,2],[3,4]]", "3x3", "397,184" '
                       "(taken as written, whatever its first character)")
    check.add_argument("--answer-file", metavar="FILE", help="read the answer from FILE (a table as CSV or "
                       "JSON), or from standard input for -, instead of TEXT")
    check.add_argument("--json", action="store_true", help="print the verdict as JSON")
    check.set_defaults(run=run_check)

    sheet = commands.add_parser("sheet", help="a whole problem set as one document: worked solutions, "
                                "answer key or problem sheet, optionally as a PDF", epilog=EPILOG)
    sheet.add_argument("file", help="a problem file (YAML), e.g. problems/cpen455-hw2.yaml")
    modes = sheet.add_mutually_exclusive_group()
    modes.add_argument("--solutions", dest="mode", action="store_const", const="solutions",
                       help="statements and full worked derivations (the default)")
    modes.add_argument("--key", dest="mode", action="store_const", const="key",
                       help="statements and final answers only, for graders")
    modes.add_argument("--problems", dest="mode", action="store_const", const="problems",
                       help="statements and givens with room for the answers, for students")
    sheet.add_argument("--format", default="latex", choices=("latex", "md", "html"),
                       help="output format (default: latex); html is one self-contained page, math as MathML")
    sheet.add_argument("--pdf", action="store_true",
                       help="compile the LaTeX with latexmk or pdflatex and write FILE-stem-MODE.pdf")
    sheet.add_argument("--output", metavar="DIR", help="write FILE-stem-MODE.EXT into DIR instead of "
                       "printing (with --pdf: default output/)")
    sheet.set_defaults(run=run_sheet, mode="solutions")

    variants = commands.add_parser("variants", help="randomized versions of a problem set, one per student: "
                                   "problem files, solutions, keys and one CSV answer key", epilog=EPILOG)
    variants.add_argument("file", help="a problem file (YAML); each problem's `vary` says what changes")
    variants.add_argument("--count", metavar="N", type=int, required=True, help="how many variants")
    variants.add_argument("--seed", metavar="S", type=seed, required=True,
                          help="a whole number >= 0: the same seed gives the same variants (keep it for grading)")
    variants.add_argument("--format", default="latex", choices=("latex", "md"),
                          help="format of the sheets (default: latex)")
    variants.add_argument("--output", metavar="DIR", default="output",
                          help="write into DIR/FILE-stem-variants/ (default: output)")
    variants.set_defaults(run=run_variants)

    grade = commands.add_parser("grade", help="check a CSV of many students' answers: verdicts, "
                                "scores, per-student totals", epilog="Exit status: 0 graded (wrong "
                                "answers included), 2 bad input (nothing is written), 3 every row graded "
                                "but a bug in the tool made some invalid (said on standard error).")
    grade.add_argument("file", help="the problem file")
    grade.add_argument("answers", metavar="ANSWERS.csv", help="columns student, problem, answer (its "
                       "name; empty for the problem's first), text, and optionally variant")
    grade.add_argument("--output", metavar="FILE", help="write the graded CSV to FILE instead of printing it")
    grade.add_argument("--seed", metavar="S", type=seed, help="with --count: the ones given to `solver variants`, "
                       "to grade rows with a variant number against that variant")
    grade.add_argument("--count", metavar="N", type=int, help="how many variants `solver variants` made")
    grade.set_defaults(run=run_grade)

    export = commands.add_parser("export", help="a quiz for Moodle (Moodle XML) or Canvas (QTI 1.2 zip), "
                                 "with each mistake's feedback where the target keeps it", epilog=EPILOG)
    export.add_argument("file", help="a problem file (YAML)")
    export.add_argument("--to", required=True, choices=("moodle", "canvas"), help="the learning management system")
    export.add_argument("--variants", metavar="N", type=int, help="with --seed: N variants of each problem, "
                        "as `solver variants` makes them; the quiz draws one per student")
    export.add_argument("--seed", metavar="S", type=seed, help="with --variants: the seed of the variants")
    export.add_argument("--output", metavar="DIR", default="output",
                        help="write DIR/FILE-stem-moodle.xml or DIR/FILE-stem-canvas.zip (default: output)")
    export.add_argument("--no-stack", action="store_true", help="Moodle: leave formula answers out (named on "
                        "standard error) instead of writing them as STACK questions, for a Moodle without the "
                        "STACK plugin")
    export.set_defaults(run=run_export)

    selftest = commands.add_parser("selftest", help="check that every problem's own answers, mistakes "
                                   "and garbage are judged right", epilog="Exit status: 0 all checks "
                                   "pass, 1 a check failed, 2 bad input.")
    selftest.add_argument("files", nargs="*", metavar="FILE", help="problem files (default: problems/*.yaml)")
    selftest.set_defaults(run=run_selftest)
    return parser


def run_kinds(args) -> int:
    import dataclasses
    from .core.fields import field_key
    from .core.prose import prose_text
    from .kinds import all_kinds
    for name, kind in all_kinds().items():
        print(f"{name}: {kind.summary}")
        print("  given:")
        for f in dataclasses.fields(kind.Given):
            print(f"    {field_key(f):<18} {prose_text(f.metadata['doc'])}")
        print("  answers:")
        for answer, doc in kind.answers.items():
            print(f"    {answer:<18} {doc}")
    return 0


def run_solve(args) -> int:
    from .render import EXTENSIONS, render
    from .problems.load import solve_file
    pset, solutions = solve_file(args.file, args.problem)
    text = render(pset, solutions, args.format)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    stem = Path(args.file).stem + (f"-{file_name_part(args.problem)}" if args.problem else "")
    target = write_atomically(output_folder(args.output), f"{stem}.{EXTENSIONS[args.format]}", text,
                              inputs=[args.file])
    print(f"wrote {target}", file=sys.stderr)
    return 0


def run_sheet(args) -> int:
    from .render import EXTENSIONS
    from .commands.sheet import build_sheet, compile_pdf, sheet_stem
    if args.pdf and args.format != "latex":
        raise UsageError(f"--pdf compiles the LaTeX sheet; leave out --format {args.format}")
    text = build_sheet(args.file, args.mode, args.format)
    stem = sheet_stem(args.file, args.mode)
    if args.pdf:
        pdf = compile_pdf(text, stem, progress=lambda message: print(message, file=sys.stderr))
        target = write_atomically(output_folder(args.output or "output"), f"{stem}.pdf", pdf, inputs=[args.file])
    elif args.output is None:
        sys.stdout.write(text)
        return 0
    else:
        target = write_atomically(output_folder(args.output), f"{stem}.{EXTENSIONS[args.format]}", text,
                                  inputs=[args.file])
    print(f"wrote {target}", file=sys.stderr)
    return 0


def run_check(args) -> int:
    from .commands.check import check_file
    verdict = check_file(args.file, args.target, answer_text(args.text, args.answer_file))
    if args.json:
        print(json.dumps({"problem": verdict.problem, "answer": verdict.answer,
                          "verdict": verdict.verdict, "score": verdict.score,
                          "feedback": verdict.feedback, "mistake": verdict.mistake,
                          "wrong_cells": verdict.wrong_cells, "rows": verdict.rows}))
    else:
        print(f"{verdict.verdict} (score {verdict.score:.2f}): {printable(verdict.feedback)}")
    return verdict.exit_code


def run_variants(args) -> int:
    from .commands.variants import write_variants
    target = write_variants(args.file, args.count, args.seed, args.output, args.format,
                            progress=lambda message: print(message, file=sys.stderr))
    print(f"wrote {args.count} variants to {target}", file=sys.stderr)
    return 0


def run_grade(args) -> int:
    from .commands.grade import grade_file
    if (args.seed is None) != (args.count is None):
        raise UsageError("--seed and --count go together: give the ones you gave `solver variants`")
    if args.output is not None:                 # refused before grading, not after
        check_target(Path(args.output), [args.file, args.answers])
    grades = grade_file(args.file, args.answers, progress=lambda message: print(message, file=sys.stderr),
                        seed=args.seed, count=args.count, debug=args.debug)
    if args.output is None:
        sys.stdout.write(grades.csv())
    else:
        output = Path(args.output)
        target = write_atomically(output.parent, output.name, grades.csv(), inputs=[args.file, args.answers],
                                  make_folder=False)
        print(f"wrote {target}", file=sys.stderr)
    print(grades.summary(), file=sys.stderr)
    return 3 if grades.bugs else 0


def run_export(args) -> int:
    from .commands.export import export_file
    name, data = export_file(args.file, args.to, args.variants, args.seed,
                             progress=lambda message: print(message, file=sys.stderr), stack=not args.no_stack)
    print(f"wrote {write_atomically(Path(args.output), name, data)}", file=sys.stderr)
    return 0


def run_selftest(args) -> int:
    from .commands.selftest import selftest
    failures = selftest(args.files, sys.stdout, progress=lambda message: print(message, file=sys.stderr))
    return 1 if failures else 0


def seed(text: str) -> int:
    """A seed for numpy's random generator: a whole number >= 0."""
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}")
    return int(text)


def answer_apart(argv: list[str]) -> tuple[list[str], str | None]:
    """`check FILE ID TEXT` whatever TEXT's first character: argparse takes -1/2, -x or -h_0 for
    an option (and mishandles "--" after a command). Returns argv without TEXT, and TEXT; or argv
    as it is (and None) when it has no TEXT or too many words for argparse to say so. Words
    starting with "--" before TEXT stay options (--json, --answer-file FILE), as does -h
    before FILE and ID."""
    command = next((i for i, word in enumerate(argv) if not word.startswith("-")), None)
    if command is None or argv[command] != "check":
        return argv, None
    options, words, i = [], [], command + 1
    while i < len(argv):
        word = argv[i]
        if word == "--":
            words += argv[i + 1:]
            break
        if word.startswith("--") or word.startswith("-") and word != "-" and len(words) < 2:
            takes_file = "=" not in word and len(word) > 2 and "--answer-file".startswith(word)
            options += argv[i:i + 1 + takes_file]
            i += 1 + takes_file
        else:
            words.append(word)
            i += 1
    if len(words) != 3:
        return argv, None
    return [*argv[:command + 1], *options, *words[:2]], words[2]


def answer_text(text: str | None, answer_file: str | None) -> str:
    """The answer as given (an `@` or a `-` in front is part of it), or read from
    --answer-file: a regular file, or standard input for -."""
    if (text is None) == (answer_file is None):
        raise UsageError("give the answer as TEXT or with --answer-file FILE, not both or neither")
    if answer_file is None:
        return text
    if answer_file == "-":
        return sys.stdin.read(MAX_ANSWER_BYTES + 1)
    try:
        if not stat.S_ISREG(os.stat(answer_file).st_mode):    # a FIFO or a device would block or never end
            raise UsageError(f"--answer-file {answer_file} is not a regular file; give a file, or - for "
                             "standard input")
        with open(answer_file, encoding="utf-8") as source:
            return source.read(MAX_ANSWER_BYTES + 1)
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read the answer file {answer_file}: "
                         f"{getattr(error, 'strerror', None) or error}") from None


@contextlib.contextmanager
def sigterm_exits():
    """SIGTERM (`kill`, a job scheduler's stop) ends the command as Ctrl-C does: by an
    exception, so that every `finally` removes its temporary files. Exit status 143."""
    if threading.current_thread() is not threading.main_thread():    # only it may set handlers
        yield
        return

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def printable(text: str) -> str:
    """Control and format characters (bidi overrides, escape sequences) written as
    --json writes them, so an echoed answer cannot reorder or recolour the line."""
    return "".join(json.dumps(c)[1:-1] if unicodedata.category(c) in ("Cc", "Cf") else c for c in text)


def file_name_part(text: str) -> str:
    """`text` (a problem id) made safe inside a file name: no folder separators."""
    return re.sub(r"[^\w.-]", "_", text)


def output_folder(path: str) -> Path:
    """The --output folder of solve and sheet: an existing folder, or a new one."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--output {folder} is not a folder; the command writes its file into the folder "
                         "--output names (a new one is made)")
    return folder


def check_target(target: Path, inputs=()) -> None:
    """Refuse to write over anything but a regular file (a device, a folder, a link),
    over one of the command's own inputs, or into a folder that does not exist."""
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        if not target.parent.is_dir():
            raise UsageError(f"cannot write to {target}: the folder {target.parent} does not exist") from None
        return
    except OSError as error:
        raise UsageError(f"cannot write to {target}: {error.strerror}") from None
    if not stat.S_ISREG(mode):
        raise UsageError(f"will not write over {target}: it is {file_type(mode)}, not a regular file")
    for source in inputs:
        with contextlib.suppress(OSError):
            if os.path.samefile(source, target):
                raise UsageError(f"will not write over {target}: it is the input {source}; give another "
                                 "output file")


def file_type(mode: int) -> str:
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISLNK, "a symbolic link"), (stat.S_ISCHR, "a device"),
             (stat.S_ISBLK, "a device"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "not a file")


def write_atomically(folder: Path, name: str, data: str | bytes, inputs=(), make_folder: bool = True) -> Path:
    """Write to a temporary file in `folder`, then rename: never a half-written file,
    and never over anything check_target refuses. Text is written as UTF-8."""
    target = folder / name
    if make_folder:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UsageError(f"cannot write to {folder}: the folder cannot be made "
                             f"({error.strerror or error})") from None
    check_target(target, inputs)
    temp = folder / f".{name}.{os.urandom(6).hex()}.tmp"
    try:
        out = open(temp, "xb")              # open(), unlike mkstemp, gives the umask's permissions
    except OSError as error:
        raise UsageError(f"cannot write to {target}: no file can be made in {folder} "
                         f"({error.strerror or error})") from None
    try:
        with out:
            out.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(temp, target)
    except OSError as error:
        raise UsageError(f"cannot write to {target}: {error.strerror or error}") from None
    finally:
        with contextlib.suppress(OSError):      # gone once renamed
            temp.unlink()
    return target


if __name__ == "__main__":
    sys.exit(main())
