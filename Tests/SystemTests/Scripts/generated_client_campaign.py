"""A whole campaign through a Python client generated from our OpenAPI document by
openapi-python-client: create, upload, start, poll to completed. Usage: BASE_URL API_KEY CLIENT_DIR
ZONE NUMBERS (the generated package `rymi_client` is in CLIENT_DIR; ZONE is the campaign's time zone,
NUMBERS the contacts' numbers, comma-separated, chosen by the caller to be inside their calling
window now)."""
import sys
import time

base, key, client_dir = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, client_dir)

from rymi_client import AuthenticatedClient
from rymi_client.api.campaigns import create_campaign, get_campaign
from rymi_client.api.contacts import upload_contacts, list_contacts
from rymi_client.api.dialing import start_campaign
from rymi_client.models import CampaignCreate, ContactUpload, NewContact, UploadResult

client = AuthenticatedClient(base_url=base, token=key, raise_on_unexpected_status=True)
created = create_campaign.sync(client=client, body=CampaignCreate(name="Generated client", agent_id="agent_gen",
                                                                    call_from_number="14155550100", timezone=sys.argv[4]))
campaign = created.campaign_id
contacts = [NewContact(phone_number=number) for number in sys.argv[5].split(",")]
uploaded = upload_contacts.sync(campaign, client=client, body=ContactUpload(contacts=contacts))
assert isinstance(uploaded, UploadResult) and uploaded.inserted_count == 8, uploaded
started = start_campaign.sync(campaign, client=client)
assert started.contacts_dialed == 8, started
deadline = time.time() + 60
while True:
    state = get_campaign.sync(campaign, client=client)
    if str(state.status.value if hasattr(state.status, "value") else state.status) == "completed":
        break
    assert time.time() < deadline, f"still {state.status}"
    time.sleep(0.2)
page = list_contacts.sync(campaign, client=client, limit=100)
final = sorted(str(c.status.value if hasattr(c.status, "value") else c.status) for c in page.contacts)
print("completed", campaign, final)
