"""Every control of the chat page is readable in every state: WCAG AA text contrast (4.5:1) at rest,
hovered, focused, pressed and disabled, and a focus ring that stands out (3:1) from what is behind it.

States are forced with the DevTools protocol (CSS.forcePseudoState), which applies exactly the CSS
the browser would, without clicking anything; the reported case ("Stop and send" hovered with the
mouse while recording) is also reproduced for real.
"""

from pathlib import Path

import pytest

from clones import services as clone_services
from clones.models import Voice
from conversations import services as conversation_services
from conversations.models import Message
from tests.audio import wav_bytes

if not Path("/usr/bin/chromium").exists():
    pytest.skip("/usr/bin/chromium is not installed (apt-get install -y chromium)", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.e2e

AA_TEXT = 4.5
AA_NON_TEXT = 3.0

# The colours actually painted: the element's text colour over its own background composited over
# every ancestor's (alpha included), and its outline over the parent's background.
MEASURE = """
(el) => {
  function parse(c) {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return [0, 0, 0, 0];
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  }
  function over(top, bottom) {
    const a = top[3] + bottom[3] * (1 - top[3]);
    if (a === 0) return [0, 0, 0, 0];
    return [0, 1, 2].map(i => (top[i] * top[3] + bottom[i] * bottom[3] * (1 - top[3])) / a).concat([a]);
  }
  function backdrop(node) {
    const layers = [];
    for (let n = node; n; n = n.parentElement) layers.push(parse(getComputedStyle(n).backgroundColor));
    let colour = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) colour = over(layers[i], colour);
    return colour;
  }
  function luminance(c) {
    const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  }
  function ratio(a, b) {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  }
  const style = getComputedStyle(el);
  // opacity fades the element (text and background together) into what is behind it.
  let opacity = 1;
  for (let n = el; n; n = n.parentElement) opacity *= parseFloat(getComputedStyle(n).opacity);
  const behind = backdrop(el.parentElement);
  const lerp = (c) => [0, 1, 2].map(i => behind[i] + (c[i] - behind[i]) * opacity).concat([1]);
  const back = lerp(over(parse(style.backgroundColor), behind));
  const text = lerp(over(parse(style.color), over(parse(style.backgroundColor), behind)));
  const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0
    ? ratio(over(parse(style.outlineColor), backdrop(el.parentElement)), backdrop(el.parentElement)) : null;
  return {text: ratio(text, back), outline: outline, color: style.color, background: style.backgroundColor};
}
"""

CONTROLS = {
    "Send": "#send-button",
    "Record": "#record-button",
    "Archive": "form[action$='/archive/'] button",
    "Retry": ".msg__retry button",
    "Log out": ".nav-user button",
}
STATES = ([], ["hover"], ["focus", "focus-visible"], ["hover", "active"], "disabled")


@pytest.fixture
def chat_page(page, login, alice, emulator_ctl):
    voice = clone_services.voice_create(
        owner=alice, name="Ada", persona="You are Ada, a cheerful baker from Leeds.",
        samples=[clone_services.SampleUpload(filename="one.wav", data=wav_bytes(3, seed=1))], consent=True,
    )
    voice.refresh_from_db()
    assert voice.status == Voice.Status.READY, voice.failure_reason
    conversation = conversation_services.conversation_create(user=alice, voice=voice)
    # A failed reply, so the page shows a Retry button.
    emulator_ctl.add_fault(path=r"^/v1/text-to-speech/", method="POST", status=503, count=None)
    conversation_services.message_send(conversation=conversation, text="Hello?")
    assert conversation.messages.filter(role=Message.Role.ASSISTANT, status=Message.Status.FAILED).exists()
    emulator_ctl.clear_faults()
    login("alice")
    page.goto(f"/conversations/{conversation.pk}/")
    expect(page.locator("#record-button")).to_be_visible()
    return page


class ForcedStates:
    def __init__(self, page):
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("DOM.enable")
        self.cdp.send("CSS.enable")

    def node(self, selector):
        root = self.cdp.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        return self.cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]

    def force(self, selector, states):
        self.cdp.send("CSS.forcePseudoState", {"nodeId": self.node(selector), "forcedPseudoClasses": states})


def measure_all(page, forced, label_prefix=""):
    results = {}
    for name, selector in CONTROLS.items():
        locator = page.locator(selector).first
        expect(locator).to_be_visible()
        for state in STATES:
            if state == "disabled":
                if name == "Log out":
                    continue  # never disabled
                locator.evaluate("b => { b.dataset.wasDisabled = b.disabled; b.disabled = true; }")
                results[(label_prefix + name, "disabled")] = locator.evaluate(MEASURE)
                locator.evaluate("b => { b.disabled = b.dataset.wasDisabled === 'true'; }")
                continue
            forced.force(selector, state)
            results[(label_prefix + name, "+".join(state) or "rest")] = locator.evaluate(MEASURE)
            forced.force(selector, [])
    return results


def report(results):
    lines = [f"{name:>22} {state:<16} text {r['text']:5.2f}:1" + (f"  focus ring {r['outline']:5.2f}:1"
             if r["outline"] else "") for (name, state), r in results.items()]
    print("\n" + "\n".join(lines))


def test_every_chat_control_is_readable_in_every_state(chat_page):
    page = chat_page
    forced = ForcedStates(page)

    results = measure_all(page, forced)

    # The recording state of the Record button ("Stop and send") has its own colours: measure it too.
    page.locator("#record-button").click()
    stop = page.get_by_role("button", name="Stop and send")
    expect(stop).to_be_visible()
    page.mouse.move(0, 0)  # the click left the pointer over it: measure at rest first
    results.update({k: v for k, v in measure_all(page, forced, "recording ").items() if "Record" in k[0]})
    # And as reported: the real mouse over it.
    stop.hover()
    results[("recording Record", "mouse hover")] = stop.evaluate(MEASURE)
    report(results)

    too_low = {key: round(r["text"], 2) for key, r in results.items() if r["text"] < AA_TEXT}
    assert not too_low, f"text below {AA_TEXT}:1: {too_low}"
    rings = {key: r["outline"] for key, r in results.items() if "focus" in key[1]}
    assert rings and all(ring is not None and ring >= AA_NON_TEXT for ring in rings.values()), rings
