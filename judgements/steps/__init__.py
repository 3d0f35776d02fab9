"""The step checker: read the calculations a solution writes (`tokens`), work out what each
side is worth (`values`), and judge every claim right, wrong or not checked (`checker`).
"""
