"""One table of named quantities: each name a kind uses, and how it is written.

A kind refers to a quantity by its name (`quantity("H_out")`, `derivative("loss", "w_in")`)
and never spells its LaTeX, so a quantity is written the same in every kind, step and answer.
"""
from __future__ import annotations

from .nodes import Indexed, Symbol, Transpose, Words

QUANTITIES = {
    "H_in": r"H_{\text{in}}", "H_out": r"H_{\text{out}}", "W_out": r"W_{\text{out}}",
    "H_target": r"H_{\text{target}}",
    "X_pad": r"X_{\text{pad}}", "X^pad": r"X^{\text{pad}}", "K_eff": r"K_{\text{eff}}",
    "W_dilated": r"W_{\text{dilated}}", "P_out": r"P_{\text{out}}", "Y_full": r"Y_{\text{full}}",
    "U_full": r"U_{\text{full}}", "Sigma": r"\Sigma", "H_pad": r"H_{\text{pad}}",
    "P_begin": r"P_{\text{begin}}", "P_end": r"P_{\text{end}}",
    "C_in": r"C_{\text{in}}", "C_out": r"C_{\text{out}}",
    "F_in": r"F_{\text{in}}", "F_out": r"F_{\text{out}}",
    "K_h": "K_h", "K_w": "K_w", "K^2": "K^{2}",
    "w_in": r"w_{\text{in}}", "w_hh": r"w_{\text{hh}}", "w_hy": r"w_{\text{hy}}",
    "loss": r"\ell",
    "mu": r"\mu", "sigma^2": r"\sigma^2", "sigma": r"\sigma", "eps": r"\varepsilon",
    "gamma": r"\gamma", "beta": r"\beta", "xhat": r"\hat{x}", "ℓ": r"\ell", "delta": r"\delta",
    "alpha": r"\alpha",
    "theta": r"\theta", "dots": r"\dots",
    "N_kept": r"N_{\text{kept}}", "N_reached": r"N_{\text{reached}}",
    "solution_dimension": r"\dim(\text{solution set})",
    "conv(X)": r"\operatorname{conv}(X)", "target(X)": r"\operatorname{target}(X)",
    "W_in": r"W_{\text{in}}", "W_hh": r"W_{\text{hh}}", "W_hy": r"W_{\text{hy}}",
    "eta": r"\eta", "y*": "y^{*}",
    "E[y]": r"\mathbb{E}[y]",
    "beta_1": r"\beta_1", "beta_2": r"\beta_2", "lambda": r"\lambda", "tau": r"\tau",
    "m_hat": r"\hat{m}", "v_hat": r"\hat{v}", "nabla_f": r"\nabla f",
    "L_data": r"L_{\text{data}}", "rho": r"\rho",
    "T_ctx": r"T_{\text{ctx}}", "d_ff": r"d_{\text{ff}}",
    "start": r"\text{start}",
    # a gate of a drawn graph: its operator, or its formula with a slot where an input goes (e^□)
    "plus": "+", "minus": "-", "times": r"\times", "divided by": r"\div", "slot": r"\square",
    "matrix product": "@", "entrywise times": r"\odot", "ones": r"\mathbf{1}",
}


def written(name: str) -> str:
    """How a quantity is written; a name not in the table (x_1, b_y) is written as it is."""
    return QUANTITIES.get(name, name)


def variable(name: str) -> Symbol:
    """A name a problem's program gives (w0, x_1, h_in, loss): its digits and subscript as a
    subscript, a word of several letters upright-italic as one name."""
    base, _, subscript = name.partition("_")
    letters = base.rstrip("0123456789")
    digits = base[len(letters):]
    text = rf"\mathit{{{letters}}}" if len(letters) > 1 else letters
    index = ",".join(part for part in (digits, subscript) if part)
    return Symbol(name, f"{text}_{{{index}}}" if index else text)


def quantity(name: str, key: str | None = None) -> Symbol:
    """The letter of a named quantity; `key` is the name values are put in under, where it differs."""
    return Symbol(key or name, written(name))


def subscripted(name: str, index) -> str:
    """name_index, the index written sign by sign (ℓ-1 is \\ell-1): bare where it is one letter
    (z_ℓ, y_L), braced where it is a number or longer (w_{1}, y_{ℓ-1})."""
    text = "".join(written(sign) for sign in str(index))
    return f"{written(name)}_{text}" if isinstance(index, str) and len(index) == 1 else f"{written(name)}_{{{text}}}"


def at_layer(name: str, layer) -> str:
    """name^(layer): a quantity of layer k, z^(k), a^(k-1)."""
    return f"{written(name)}^{{({layer})}}"


def braced(written_name: str, subscript: str | None = None) -> str:
    """A written label (words, a letter) in braces, with a subscript where given: {params}_{3}, {params}_{total}."""
    return "{" + written_name + "}" + (f"_{{{subscript}}}" if subscript is not None else "")


def named_words(name: str, text: str | None = None) -> Words:
    """A quantity named in words (params, MACs), written upright; `name` is its key."""
    return Words(name, words(text or name))


def derivative(of: str, by: str) -> str:
    """∂of/∂by, written as a fraction."""
    return rf"\frac{{\partial {written(of)}}}{{\partial {written(by)}}}"


def slashed_derivative(of: str, by: str) -> str:
    """∂of / ∂by on one line, as a label or a sentence writes it."""
    return rf"\partial {written(of)} / \partial {written(by)}"


def after_update(name: str) -> str:
    """The quantity after one update step: w'."""
    return written(name) + "'"


def listing(first: str, last: str) -> str:
    """first, …, last."""
    return rf"{written(first)}, \dots, {written(last)}"


def words(text: str) -> str:
    """Words inside math, upright: an answer's label such as 'linearly separable', num_features."""
    return rf"\text{{{text}}}".replace("_", r"\_")


def indexed(name: str, *subscripts) -> Indexed:
    """A quantity with its subscripts as they are written: e_{ij}, α_{12}, q_{3}."""
    return Indexed(written(name), [Symbol(str(s)) for s in subscripts])


def transposed(node) -> Transpose:
    """Wᵀ: a quantity's name, or a formula, transposed."""
    return Transpose(quantity(node) if isinstance(node, str) else node)
