//! `format(spec, values)`: printf's conversions for plugin authors. `%s`
//! (any value, as Rhai prints it), `%d` (an integer), `%x`, `%X`, `%o`
//! (a non-negative integer in hex or octal), `%%`; each with the flags `-`
//! (left-justify) and `0` (pad numbers with zeros), a width and, for `%s`,
//! a precision (`%.3s`: at most 3 characters).

use rhai::{Array, Dynamic};

use super::ctx::{Res, fail};
use super::engine::MAX_STRING;

/// The widest field a conversion may ask for.
const MAX_WIDTH: usize = 4096;

/// One `%` conversion, parsed.
struct Conversion {
    left: bool,
    zero: bool,
    width: usize,
    precision: Option<usize>,
    kind: char,
}

pub(super) fn format(spec: &str, values: Array) -> Res<String> {
    let mut out = String::new();
    let mut values = values.into_iter();
    let mut used = 0;
    let mut chars = spec.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let conversion = parse(&mut chars)?;
        if conversion.kind == '%' {
            out.push('%');
            continue;
        }
        let value = values
            .next()
            .ok_or_else(|| fail(format!("format: `{spec}` has more conversions than the {used} values given")))?;
        used += 1;
        let text = convert(&conversion, value)?;
        pad(&mut out, &conversion, &text);
        if out.len() > MAX_STRING {
            return Err(fail(format!("format: the result is over the string limit ({MAX_STRING} bytes)")));
        }
    }
    let left = values.count();
    if left > 0 {
        return Err(fail(format!("format: `{spec}` has {used} conversions but {} values were given", used + left)));
    }
    Ok(out)
}

fn parse(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Res<Conversion> {
    let mut conversion = Conversion { left: false, zero: false, width: 0, precision: None, kind: '%' };
    while let Some(flag) = chars.next_if(|c| *c == '-' || *c == '0') {
        if flag == '-' { conversion.left = true } else { conversion.zero = true }
    }
    conversion.width = number(chars)?;
    if chars.next_if_eq(&'.').is_some() {
        conversion.precision = Some(number(chars)?);
    }
    conversion.kind = match chars.next() {
        Some(kind @ ('s' | 'd' | 'x' | 'X' | 'o' | '%')) => kind,
        Some(other) => return Err(fail(format!("format: `%{other}` is not a conversion (%s, %d, %x, %X, %o, %%)"))),
        None => return Err(fail("format: the spec ends in the middle of a `%` conversion")),
    };
    Ok(conversion)
}

fn number(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Res<usize> {
    let mut n: usize = 0;
    while let Some(digit) = chars.next_if(char::is_ascii_digit) {
        n = n * 10 + digit.to_digit(10).map_or(0, |d| d as usize);
        if n > MAX_WIDTH {
            return Err(fail(format!("format: a width or precision over {MAX_WIDTH}")));
        }
    }
    Ok(n)
}

fn convert(conversion: &Conversion, value: Dynamic) -> Res<String> {
    if conversion.kind == 's' {
        let text = value.to_string();
        return Ok(match conversion.precision {
            Some(most) => text.chars().take(most).collect(),
            None => text,
        });
    }
    let type_name = value.type_name();
    let n = value
        .as_int()
        .map_err(|_| fail(format!("format: `%{}` needs an integer, not {type_name}", conversion.kind)))?;
    if conversion.kind != 'd' && n < 0 {
        return Err(fail(format!("format: `%{}` needs a non-negative integer, not {n}", conversion.kind)));
    }
    Ok(match conversion.kind {
        'x' => format!("{n:x}"),
        'X' => format!("{n:X}"),
        'o' => format!("{n:o}"),
        _ => n.to_string(),
    })
}

fn pad(out: &mut String, conversion: &Conversion, text: &str) {
    let missing = conversion.width.saturating_sub(text.chars().count());
    if conversion.left {
        out.push_str(text);
        out.extend(std::iter::repeat_n(' ', missing));
    } else if conversion.zero && conversion.kind != 's' {
        let (sign, digits) = text.strip_prefix('-').map_or(("", text), |rest| ("-", rest));
        out.push_str(sign);
        out.extend(std::iter::repeat_n('0', missing));
        out.push_str(digits);
    } else {
        out.extend(std::iter::repeat_n(' ', missing));
        out.push_str(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(spec: &str, values: Vec<Dynamic>) -> String {
        format(spec, values).unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn conversions_as_printf_makes_them() {
        let values = vec![Dynamic::from("app"), Dynamic::from(493_i64), Dynamic::from(255_i64), Dynamic::from(-7_i64)];
        assert_eq!(f("%-5s|%o|%04X|%03d|100%%", values), "app  |755|00FF|-07|100%");
        assert_eq!(f("[%6.2s]", vec![Dynamic::from("abcdef")]), "[    ab]");
        assert_eq!(f("%s %s", vec![Dynamic::from(true), Dynamic::from(1.5_f64)]), "true 1.5");
    }

    #[test]
    fn mistakes_say_what_is_wrong() {
        assert!(f("%d", vec![Dynamic::from("x")]).contains("`%d` needs an integer, not string"));
        assert!(f("%s %s", vec![Dynamic::from(1_i64)]).contains("more conversions than the 1 values given"));
        assert!(f("%s", vec![Dynamic::from(1_i64), Dynamic::from(2_i64)]).contains("1 conversions but 2 values"));
        assert!(f("%q", vec![]).contains("`%q` is not a conversion"));
        assert!(f("50%", vec![]).contains("ends in the middle"));
        assert!(f("%99999s", vec![Dynamic::from(1_i64)]).contains("over 4096"));
        assert!(f("%x", vec![Dynamic::from(-1_i64)]).contains("non-negative"));
    }
}
