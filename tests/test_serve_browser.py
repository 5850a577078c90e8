"""The page in a real browser: headless Chromium (/usr/bin/chromium) against ``python -m distill.web``.

End to end (type, submit, every model's answer on screen), the in-browser logistic student
against the Python model on a few hundred documents, and the Unicode tables its JavaScript
tokenizer relies on against Python's. Skipped where Chromium or Playwright is missing
(``apt-get install chromium``; ``playwright install`` needs a download).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from conftest import GROUPS, benchmark_module
from distill.web.models import ENSEMBLE
from distill.serving import Preprocessing, from_onnx
from distill.preprocessing import clean

serve_common = benchmark_module("serve_common")
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not serve_common.CHROMIUM.exists(), reason="needs /usr/bin/chromium")]
sync_api = pytest.importorskip("playwright.sync_api")

MODELS = ["teacher", "logistic_kd", "bilstm_kd", ENSEMBLE, "sk_complementnb"]
TEXT = "The orbit of the rocket: launch the shuttle to the moon, NASA says."
UNICODE_TEXTS = [
    "ΣΊΣΥΦΟΣ orbit ΟΔΟΣ ΛΌΓΟΣ.", "İstanbul ROCKET ıi İİ", "naïve café ﬁle ÆSIR Straße", "e\u0301ngine rocket\u0301s",
    "x² ½ ①② orbit_launch 3rd 42 ٣٤", "火箭发射 orbit 月球 ロケット", "emoji 🚀🚀 orbit 🌕moon", "𐐀𐐁 Deseret ROCKET 𝒜𝒷",
    "ǅungla ǈ ǋ Titlecase", "Ⅻ roman ⅫⅫ numeral", "\ufeffBOM orbit", "orbit\u200brocket\u00adlaunch",
    "tab\tsep\x0bvt\x0cff\x1cfs orbit\x85nel",
    "In article <x>, user writes:\n> orbit\n| moon\nrocket launch\nhe said: no",
    "From: x\n\nbody only orbit", "Not a header line\n\norbit rocket", "Re: orbit without a blank line",
    "orbit\n\n - - \nsig", "orbit rocket\n-----\nsig line", "  \n orbit rocket \n\n\n", "orbit\n--\n\n", "--\norbit",
    "x-y: z\n\npixel\u3000render\u2028shader\u00a0", "a\u0300\u0301b c", "ÉNGINE Wheel BRAKE", "",
]


def variations(texts: list[str]) -> list[str]:
    """Each text, in capitals, and with one edit that stresses the cleaning or the analyzer."""
    edits = [
        lambda text: text.replace("\n", "\r\n"),
        lambda text: text.replace(" ", "\u00a0 ").replace("\n", " \x1c\n"),
        lambda text: f"Subject: tweaked\n{text}",
        lambda text: f"{text}\n\n--\nSig Nature",
        lambda text: text.replace("\n\n", "\n", 1),
        lambda text: f"> quoted\n{text}writes: nothing\n",
        lambda text: text.replace("e", "\xe9").replace("a", "\u0101"),
        lambda text: "\n".join(reversed(text.split("\n"))),
    ]
    return [variant for index, text in enumerate(texts)
            for variant in (text, text.upper(), edits[index % len(edits)](text))]


@pytest.fixture(scope="module")
def server(serve_run: Path, tmp_path_factory: pytest.TempPathFactory):
    with serve_common.serving(serve_run, cwd=tmp_path_factory.mktemp("cwd")) as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = serve_common.chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    """A fresh page of the server; fails the test on any console error or request to another origin."""
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    problems: list[str] = []
    expected = "the server responded with a status of 422"  # a refused text, shown on the page
    page.on("console", lambda message: problems.append(message.text)
            if message.type == "error" and expected not in message.text else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("request", lambda request: None if request.url.startswith(server.url) else problems.append(request.url))
    page.goto(server.url)
    page.wait_for_selector("body[data-ready=true]")
    yield page
    page.close()
    assert problems == []


def submit(page, text: str | None = None) -> None:
    """Submit ``text`` (or what the box holds) and wait for the page to show the answer."""
    if text is not None:
        page.fill("#text", text)
    answered = int(page.get_attribute("body", "data-answered") or 0)
    page.click("#submit")
    page.wait_for_selector(f'body[data-answered="{answered + 1}"]')


def test_every_model_answers_on_the_page(page, tmp_path: Path) -> None:
    submit(page, TEXT)
    assert page.locator(".card").count() == len(MODELS)
    for name in MODELS:
        card = page.locator(f'.card[data-model="{name}"]')
        assert card.locator(".label").inner_text() in GROUPS
        assert re.fullmatch(r"(onnxruntime|sklearn) · \d+\.\d+ ms", card.locator(".latency").inner_text())
        assert card.locator(".bars li").count() == len(GROUPS)
        if name != "teacher":
            assert re.fullmatch(r"vs teacher: cosine [01]\.\d{3} · KL \d+\.\d{3} · (agrees ✓|disagrees ✗)",
                                card.locator(".similarity").inner_text())
    summary = page.locator("#summary").inner_text()
    assert summary.startswith(("Fastest model agreeing with the teacher", "No model agrees"))
    assert re.fullmatch(rf"in your browser: ({'|'.join(GROUPS)}), \d+\.\d+ ms \(logistic_kd, p=0\.\d{{3}}\)",
                        page.locator("#browser").inner_text())
    page.screenshot(path=str(tmp_path / "serve.png"), full_page=True)
    assert (tmp_path / "serve.png").stat().st_size > 10_000


def test_examples_truncation_and_errors_show(page) -> None:
    page.click("text=long text (truncated)")
    submit(page)
    for name in ("teacher", "bilstm_kd", ENSEMBLE):
        assert "truncated to 32 tokens" in page.locator(f'.card[data-model="{name}"] .truncated').inner_text()
    assert page.locator('.card[data-model="logistic_kd"] .truncated').count() == 0
    page.click("text=raw Usenet message")
    assert page.input_value("#text").startswith("From: ")
    submit(page, "   ")
    assert page.locator("#error").is_visible() and "only whitespace" in page.locator("#error").inner_text()


def test_an_error_clears_the_previous_texts_results(page) -> None:
    submit(page, TEXT)
    assert page.locator(".card").count() == len(MODELS)
    size = page.locator('.card[data-model="logistic_kd"] .size').inner_text()
    assert re.search(r"params · \d+\.\d{2} MB on disk$", size), size
    submit(page, "From: someone@example.com\nSubject: nothing else\n\n")
    assert page.locator("#error").inner_text().startswith("nothing left after cleaning headers, quotes and signatures")
    assert page.locator(".card").count() == 0 and page.locator("#summary").inner_text() == ""
    submit(page, TEXT)
    assert page.locator(".card").count() == len(MODELS) and not page.locator("#error").is_visible()


def test_phone_width_has_no_sideways_scroll(browser, server) -> None:
    page = browser.new_page(viewport={"width": 375, "height": 740}, device_scale_factor=2, is_mobile=True)
    page.goto(server.url)
    page.wait_for_selector("body[data-ready=true]")
    submit(page, TEXT)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert page.locator(".card").first.bounding_box()["width"] <= 375
    page.close()


def test_browser_student_matches_python(page, corpus_dir: Path, serve_run: Path) -> None:
    """Same cleaning, same terms, same top-1 and probabilities within 1e-4 as the ONNX model, 300+ texts."""
    corpus = [path.read_bytes().decode("latin-1") for path in sorted(corpus_dir.rglob("*")) if path.is_file()]
    texts = variations(corpus) + UNICODE_TEXTS
    assert len(texts) >= 200
    export = serve_run / "export" / "logistic_kd"
    preprocessing = Preprocessing(export)
    cleaned = clean(texts, preprocessing.cleaning)
    js = page.evaluate("""async ({texts, cleaning}) => {
        const tfidf = await import("/static/tfidf.js");
        const student = new tfidf.LogisticStudent(await (await fetch("/browser-model.json")).json());
        const cleaned = texts.map((text) => tfidf.clean(text, cleaning));
        return {cleaned, terms: cleaned.map((text) => student.terms(text))};
    }""", {"texts": texts, "cleaning": preprocessing.cleaning})
    assert js["cleaned"] == cleaned
    assert js["terms"] == [preprocessing.transform.terms(text) for text in cleaned]
    parity = benchmark_module("serve_parity")
    result = parity.compare(parity.browser_probabilities(page, texts), from_onnx(export).predict_proba(texts))
    assert result["top1_agreement"] == 1.0 and result["max_abs_prob_difference"] < 1e-4, result


def test_browser_unicode_tables_match_python(page) -> None:
    """Word characters, lowercasing and whitespace, code point by code point, as Python's re and str see them.

    Only characters Python's Unicode tables do not know yet (category Cn) may differ.
    """
    js = page.evaluate("""async () => {
        const { pyStrip } = await import("/static/tfidf.js");
        const word = /^[\\p{L}\\p{N}_]$/u, word_cps = [], lower = {}, space = [];
        for (let cp = 0; cp < 0x110000; cp++) {
            if (cp >= 0xd800 && cp < 0xe000) continue;
            const char = String.fromCodePoint(cp);
            if (word.test(char)) word_cps.push(cp);
            if (char.toLowerCase() !== char) lower[cp] = char.toLowerCase();
            if (pyStrip(char) === "") space.push(cp);
        }
        return {word: word_cps, lower, space};
    }""")
    codepoints = [cp for cp in range(0x110000) if not 0xD800 <= cp < 0xE000]
    unknown = {cp for cp in codepoints if unicodedata.category(chr(cp)) == "Cn"}
    python_word = {cp for cp in codepoints if re.match(r"\w", chr(cp))}
    assert set(js["word"]) ^ python_word <= unknown
    python_lower = {cp: chr(cp).lower() for cp in codepoints if chr(cp).lower() != chr(cp)}
    javascript_lower = {int(cp): lowered for cp, lowered in js["lower"].items()}
    differing = {cp for cp in python_lower.keys() | javascript_lower.keys()
                 if python_lower.get(cp) != javascript_lower.get(cp)}
    assert differing <= unknown, sorted(differing - unknown)[:10]
    assert set(js["space"]) == {cp for cp in codepoints if chr(cp).isspace()}
    assert len(python_word & set(js["word"])) > 0.99 * len(python_word)
