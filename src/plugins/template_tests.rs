//! Templates: values, filters, loops over arrays and maps, conditions,
//! whitespace control, and located errors.

use super::*;

fn vars(json: &str) -> Map {
    let value: serde_json::Value = serde_json::from_str(json).unwrap();
    rhai::serde::to_dynamic(value).unwrap().cast::<Map>()
}

fn ok(template: &str, json: &str) -> String {
    render(template, vars(json)).unwrap()
}

fn error(template: &str, json: &str) -> String {
    match render(template, vars(json)).unwrap_err().as_ref() {
        rhai::EvalAltResult::ErrorRuntime(value, _) => value.to_string(),
        other => other.to_string(),
    }
}

#[test]
fn values_filters_and_literals() {
    let json = r#"{"name": "it's <a> & \"b\"", "port": 80, "on": true, "m": {"k": [1, "x"]}}"#;
    assert_eq!(ok("{{ name }}:{{port}}:{{ on }}", json), "it's <a> & \"b\":80:true");
    assert_eq!(ok("{{ name | shell }}", json), r#"'it'\''s <a> & "b"'"#);
    assert_eq!(ok("{{ name | xml }}", json), "it&apos;s &lt;a&gt; &amp; &quot;b&quot;");
    assert_eq!(ok("{{ name | json }} {{ m | json }}", json), r#""it's <a> & \"b\"" {"k":[1,"x"]}"#);
    assert_eq!(ok("{{ \"{{\" }}x}}", json), "{{x}}");
}

#[test]
fn loops_conditions_and_whitespace_control() {
    let json = r#"{"users": [{"name": "a", "admin": true}, {"name": "b"}], "env": {"B": "2", "A": "1"}, "empty": []}"#;
    let template = "{{#for u in users -}}\n{{ u.name }}{{#if u.admin}} (admin){{#else}} (user){{/if}}\n{{/for -}}\n";
    assert_eq!(ok(template, json), "a (admin)\nb (user)\n");
    assert_eq!(ok("{{#for e in env}}{{e.key}}={{e.value}};{{/for}}", json), "A=1;B=2;");
    assert_eq!(ok("{{#if empty}}x{{/if}}{{#if !missing}}y{{/if}}{{#if !empty}}z{{/if}}", json), "yz");
}

#[test]
fn mistakes_are_errors_with_their_line() {
    assert_eq!(error("a\n{{ nope }}", "{}"), "render: line 2: `nope` is not given");
    assert_eq!(
        error("{{ m }}", r#"{"m": {}}"#),
        "render: line 1: `m` is an array or map: write it with `| json` or a #for block"
    );
    assert_eq!(error("\n\n{{#for x in l}}", r#"{"l": []}"#), "render: line 3: the block is not closed by `{{/for}}`");
    assert_eq!(error("{{/if}}", "{}"), "render: line 1: `{{/if}}` closes no block");
    assert_eq!(error("{{ x | upper }}", "{}"), "render: line 1: unknown filter `upper` (shell, json, xml)");
    assert_eq!(error("x {{ y", "{}"), "render: line 1: `{{` is not closed by `}}`");
    assert_eq!(error("{{#for x in n}}{{/for}}", r#"{"n": 1}"#), "render: line 1: `n` is not an array or map");
    let deep = "{{#if x}}".repeat(100);
    assert_eq!(error(&deep, "{}"), "render: blocks nest deeper than 64 levels");
}

#[test]
fn the_work_of_nested_loops_is_bounded() {
    let items: Vec<u32> = (0..5000).collect();
    let json = serde_json::json!({ "a": items, "b": items }).to_string();
    let message = error("{{#for x in a}}{{#for y in b}}{{/for}}{{/for}}", &json);
    assert_eq!(message, format!("render: more than {MAX_STEPS} values and blocks expanded"));
}
