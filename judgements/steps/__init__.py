"""The step checker: find where a step's text is mathematics and which `$` is money
(`delimiters`), read the calculations it writes (`tokens`, `chains`), work out what each side is
worth with its units (`values`, `units`), judge every claim right, wrong or not checked and how
sure that is (`verdicts`, `checker`), and say it in a sentence (`marks`).
"""
