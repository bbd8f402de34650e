"""Drives the dashboard in headless Chromium (Selenium) against a live stack: signs in, creates a
campaign, uploads a CSV, starts it and watches it reach `completed`; checks that a contact variable
holding markup shows as text; adds and removes a Do-Not-Call number; looks at a phone-width screen.

usage: dashboard_browser.py BASE_URL API_KEY SCREENSHOT_DIR TIMEZONE NUMBER[,NUMBER…] DNC_NUMBER
Exits non-zero, saying why, on the first thing that is not as it should be."""
import os
import sys
import tempfile
import time

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

XSS = "<img src=x onerror=alert(1)>"
NAME = "Browser <script>window.pwned=1</script> campaign"

base, key, shots, timezone, numbers, dnc_number = sys.argv[1:7]
numbers = numbers.split(",")
os.makedirs(shots, exist_ok=True)

options = webdriver.ChromeOptions()
for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
    options.add_argument(argument)
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
wait = WebDriverWait(driver, 20)
taken = []


def shot(name):
    path = os.path.join(shots, name + ".png")
    driver.save_screenshot(path)
    taken.append(path)


def visible(selector):
    return wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, selector)))


def text_in(selector, text, timeout=20):
    WebDriverWait(driver, timeout).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, selector), text))


def no_alert():
    try:
        alert = driver.switch_to.alert
        raise AssertionError("an alert opened: " + alert.text)
    except NoAlertPresentException:
        pass


try:
    # Signing in: a wrong key is refused, the right one is kept in this tab's sessionStorage only.
    driver.get(base + "/app/")
    visible("#sign-in-key").send_keys("not-a-key")
    driver.find_element(By.ID, "sign-in-submit").click()
    text_in("#sign-in-error", "not accepted")
    shot("01-sign-in-refused")
    field = driver.find_element(By.ID, "sign-in-key")
    field.clear()
    field.send_keys(key)
    driver.find_element(By.ID, "sign-in-submit").click()
    visible("#campaigns")
    assert driver.execute_script("return sessionStorage.getItem('rymi.apiKey')") == key, "the key is not in sessionStorage"
    assert driver.execute_script("return localStorage.length") == 0, "something was kept in localStorage"

    # A campaign, made in the form.
    driver.find_element(By.ID, "new-campaign-link").click()
    visible("#new-name").send_keys(NAME)
    driver.find_element(By.ID, "new-agent-id").send_keys("agent_42")
    driver.find_element(By.ID, "new-call-from").send_keys("+14155550100")
    driver.find_element(By.ID, "new-timezone").send_keys(timezone)
    shot("02-new-campaign")
    driver.find_element(By.ID, "new-submit").click()
    text_in("#campaign-name", NAME)
    text_in("#campaign-status", "draft")
    assert driver.execute_script("return window.pwned === undefined && document.querySelectorAll('main script').length === 0"), \
        "the campaign's name ran as a script"

    # A CSV file, one of whose variables is markup: it must show as text, and never run.
    rows = ["phone_number,first_name,note"]
    for index, number in enumerate(numbers):
        rows.append(f'{number},Caller {index},"{XSS if index == 0 else "plain"}"')
    path = os.path.join(tempfile.mkdtemp(), "contacts.csv")
    with open(path, "w") as file:
        file.write("\n".join(rows) + "\n")
    driver.find_element(By.ID, "csv-file").send_keys(path)
    driver.find_element(By.ID, "csv-upload").click()
    text_in("#csv-result", f"{len(numbers)} contacts added")
    assert driver.find_element(By.ID, "csv-progress").get_attribute("value") == "1", "the upload's progress bar did not reach the end"
    text_in("#figure-total", str(len(numbers)))
    WebDriverWait(driver, 20).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#contact-rows tr[data-id]")) == len(numbers))
    cells = [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, "#contact-rows td.vars")]
    assert any(XSS in cell for cell in cells), f"the markup variable is not shown as text: {cells}"
    assert not driver.find_elements(By.CSS_SELECTOR, "main img"), "the markup variable became an element"
    no_alert()
    shot("03-uploaded")

    # Started, and watched until every contact is done.
    driver.find_element(By.ID, "action-start").click()
    text_in("#campaign-status", "completed", timeout=90)
    text_in("#progress-legend", f"completed {len(numbers)}")
    text_in("#figure-answer-rate", "%")
    assert driver.find_element(By.ID, "action-start").get_attribute("disabled") is not None, "start is offered on a completed campaign"
    driver.find_element(By.CSS_SELECTOR, "#contact-filter option[value='completed']").click()
    WebDriverWait(driver, 20).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#contact-rows tr[data-id]")) == len(numbers))
    no_alert()
    shot("04-completed")

    # The list shows it completed.
    driver.find_element(By.CSS_SELECTOR, "nav a[href='#/campaigns']").click()
    text_in("#campaign-rows", "completed")
    text_in("#campaign-rows", NAME)
    assert driver.execute_script("return window.pwned === undefined"), "the campaign's name ran as a script in the list"
    shot("05-campaigns")

    # The Do-Not-Call list: add, then remove.
    driver.find_element(By.CSS_SELECTOR, "nav a[href='#/dnc']").click()
    visible("#dnc-numbers").send_keys(dnc_number)
    driver.find_element(By.ID, "dnc-submit").click()
    text_in("#dnc-result", "1 added")
    digits = dnc_number.lstrip("+")
    WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, f"#dnc-rows tr[data-number='{digits}']"))
    shot("06-dnc")
    driver.find_element(By.CSS_SELECTOR, f"#dnc-rows button[data-number='{digits}']").click()
    WebDriverWait(driver, 20).until(lambda d: not d.find_elements(By.CSS_SELECTOR, f"#dnc-rows tr[data-number='{digits}']"))

    # A phone's width: the page does not scroll sideways (wide tables scroll in their own box).
    driver.set_window_size(390, 844)
    driver.find_element(By.CSS_SELECTOR, "nav a[href='#/campaigns']").click()
    visible("#campaign-rows a").click()
    text_in("#campaign-status", "completed")
    overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page is {overflow} px wider than a phone's screen"
    shot("07-phone")

    # Nothing the page did was refused by its Content-Security-Policy.
    refused = [entry["message"] for entry in driver.get_log("browser") if "Content Security Policy" in entry["message"]]
    assert not refused, f"the Content-Security-Policy refused: {refused}"
    print("dashboard ok; screenshots:", " ".join(taken))
except Exception as error:
    try:
        shot("failure")
    except Exception:
        pass
    print("dashboard check failed:", repr(error), "at", driver.current_url, file=sys.stderr)
    print("screenshots:", " ".join(taken), file=sys.stderr)
    sys.exit(1)
finally:
    driver.quit()
