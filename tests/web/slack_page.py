"""The page as a person uses it, found by visible text only (CONTRACT.md: `resetbot demo --web`).

A person is chosen by clicking their name; channels, the DM and the App Home by their names; the
message box by its placeholder ("Message #helpdesk"); buttons, confirm dialogs and modal inputs by
the words shown. Every wait polls for a condition (WebDriverWait), never a fixed sleep.
"""

from __future__ import annotations

from pathlib import Path

from selenium.common.exceptions import (
    ElementClickInterceptedException,
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

TIMEOUT = 20
MSG = "div[contains(concat(' ', normalize-space(@class), ' '), ' msg ')]"  # a message (not its parts)
FLAKY = (StaleElementReferenceException, ElementClickInterceptedException, NoSuchElementException)


def literal(text: str) -> str:
    """`text` as an XPath string literal, whatever quotes it holds."""
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    return "concat(" + ", \"'\", ".join(f"'{part}'" for part in text.split("'")) + ")"


class SlackPage:
    def __init__(self, driver: WebDriver, url: str, artifacts: Path) -> None:
        self.driver = driver
        self.url = url
        self.artifacts = artifacts
        driver.get(url)
        self.wait_for(lambda d: d.find_elements(By.CSS_SELECTOR, "#people button"), "the person switcher")

    # --- waiting ------------------------------------------------------------------------------------

    def wait_for(self, condition, what: str, timeout: float = TIMEOUT):
        return WebDriverWait(self.driver, timeout, poll_frequency=0.1, ignored_exceptions=FLAKY).until(
            condition, message=f"not seen within {timeout} s: {what}")

    def act(self, xpath: str, what: str, timeout: float = TIMEOUT) -> None:
        """Click the last element at `xpath` once it is shown and can be clicked (regions are swapped in)."""
        def click(driver: WebDriver) -> bool:
            found = [e for e in driver.find_elements(By.XPATH, xpath) if e.is_displayed() and e.is_enabled()]
            if not found:
                return False
            found[-1].click()
            return True
        self.wait_for(click, what, timeout)

    # --- what a person does -------------------------------------------------------------------------

    def be(self, name: str) -> None:
        """Act as the person named `name`: click their name in the switcher."""
        self.act(f"//nav[@id='people']//button[.//*[normalize-space(.)={literal(name)}]]", f"the person {name}")
        self.wait_for(lambda d: d.find_element(By.CSS_SELECTOR, "#people button.active").text.find(name) >= 0,
                      f"acting as {name}")

    def open(self, name: str) -> None:
        """Open a channel ("#helpdesk" or "helpdesk"), the DM ("resetbot") or "App Home" by its name."""
        bare = name.lstrip("#")
        self.act(f"//aside[@id='sidebar']//button[.//span[@class='sb-name'][normalize-space(.)={literal(bare)}]]",
                 f"{name} in the sidebar")
        title = "resetbot" if bare in ("resetbot", "App Home") else f"#{bare}"
        self.wait_for(lambda d: d.find_element(By.CSS_SELECTOR, "#header .conv-title").text.startswith(title),
                      f"{name} open")

    def type(self, text: str) -> None:
        """Type in the message box (its placeholder reads "Message …") and press Enter."""
        box = self.wait_for(lambda d: next((e for e in d.find_elements(
            By.XPATH, "//textarea[starts-with(@placeholder, 'Message')]") if e.is_displayed()), None),
            "the message box")
        box.clear()
        box.send_keys(text, Keys.ENTER)
        self.wait_for(lambda d: box.get_attribute("value") == "", "the message box emptied (sent)")

    def modal(self, title: str) -> WebElement:
        return self.wait_for(lambda d: next((m for m in d.find_elements(By.CSS_SELECTOR, "#modal-layer .modal")
                                             if m.find_element(By.CSS_SELECTOR, ".modal-title").text == title), None),
                             f"the modal {title!r}")

    def no_modal(self) -> None:
        self.wait_for(lambda d: not d.find_elements(By.CSS_SELECTOR, "#modal-layer .modal"), "the modal closed")

    def field(self, label: str) -> WebElement:
        """A modal's input by its label's words (the label may add words after them)."""
        def find(driver: WebDriver):
            for lab in driver.find_elements(By.CSS_SELECTOR, "#modal-layer .sk-label"):
                if lab.text.startswith(label):
                    return driver.find_element(By.ID, lab.get_attribute("for"))
            return None
        return self.wait_for(find, f"the input labelled {label!r}")

    def fill(self, label: str, value: str) -> None:
        def put(driver: WebDriver) -> bool:
            element = self.field(label)
            if element.tag_name == "select":
                Select(element).select_by_visible_text(value)
            elif element.tag_name in ("input", "textarea"):
                element.clear()
                element.send_keys(value)
            else:  # radio buttons: the choice's words
                element.find_element(By.XPATH, f".//label[normalize-space(.)={literal(value)}]").click()
            return True
        self.wait_for(put, f"{label!r} set to {value!r}")

    def press(self, button: str, *, within: str | None = None) -> None:
        """Press a button by its words: in the modal or confirm dialog when one is open, else in the newest
        message (or the App Home) showing it; `within`: in the newest message whose text holds those words."""
        words = f"normalize-space(.)={literal(button)}"
        if within is not None:
            xpath = (f"(//div[@id='conversation' or @id='thread']//{MSG}"
                     f"[contains(normalize-space(.), {literal(within)})][.//button[{words}]])[last()]//button[{words}]")
        else:
            xpath = (f"//div[@id='confirm-layer' and not(@hidden)]//button[{words}]"
                     f" | //div[@id='modal-layer' and not(@hidden)]//button[{words}]")
            if not self.driver.find_elements(By.XPATH, xpath):
                xpath = (f"//div[@id='conversation' or @id='thread']//button[{words}]")
        self.act(xpath, f"the button {button!r}" + (f" on the message about {within!r}" if within else ""))

    def confirm(self, button: str) -> None:
        self.act(f"//div[@id='confirm-layer']//button[normalize-space(.)={literal(button)}]",
                 f"{button!r} in the confirm dialog")
        self.wait_for(lambda d: not d.find_element(By.ID, "confirm-layer").is_displayed(), "the dialog closed")

    def open_thread(self, within: str) -> None:
        self.act(f"(//div[@id='conversation']//{MSG}[contains(normalize-space(.), "
                 f"{literal(within)})]//button[contains(@class, 'replies-link')])[last()]", "the thread's replies")
        self.wait_for(lambda d: d.find_element(By.ID, "thread").is_displayed(), "the thread")

    # --- what a person reads ------------------------------------------------------------------------

    def text(self, where: str = "conversation") -> str:
        return self.driver.find_element(By.ID, where).text

    def sees(self, *words: str, where: str = "conversation", timeout: float = TIMEOUT) -> str:
        """Wait until the region shows every one of `words`; its text then."""
        return self.wait_for(lambda d: (t := d.find_element(By.ID, where).text) and all(w in t for w in words) and t,
                             f"{words} in #{where}", timeout)

    def message(self, within: str) -> WebElement:
        """The newest message whose text holds `within`."""
        return self.wait_for(lambda d: (d.find_elements(By.XPATH, f"//div[@id='conversation']//{MSG}"
                                                                    f"[contains(normalize-space(.), "
                                                                    f"{literal(within)})]") or [None])[-1],
                             f"a message holding {within!r}")

    def message_shows(self, within: str, *words: str, absent: tuple[str, ...] = ()) -> str:
        def check(driver: WebDriver):
            text = self.message(within).text
            return (all(w in text for w in words) and not any(a in text for a in absent)) and text
        return self.wait_for(check, f"the message about {within!r} showing {words}, not {absent}")

    def buttons(self, within: str) -> list[str]:
        return [b.text for b in self.message(within).find_elements(By.CSS_SELECTOR, "button.sk-button")]

    def screenshot(self, name: str, element: WebElement | None = None) -> Path:
        path = self.artifacts / f"{name}.png"
        if element is not None:
            self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
            element.screenshot(str(path))
        else:
            self.driver.save_screenshot(str(path))
        return path
