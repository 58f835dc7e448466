#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: sns_channel
short_description: One SNS topic with exactly the given subscriptions; check mode from the start, endpoints never printed
description:
  - Ensures the standard SNS topic O(name) exists and that its subscriptions are exactly O(subscriptions)
    (protocol and endpoint); others are unsubscribed (a subscription still pending confirmation cannot be,
    and counts as present).
  - Replaces C(community.aws.sns_topic), which fails in check mode for a topic that does not exist yet
    ("Couldn't get subscriptions list for topic None", or "topics not owned by this account" with a
    display name), so its four idempotence steps cannot pass.
  - E-mail endpoints are checked before any call (SNS accepts any string and the mail never arrives).
  - Endpoints (Slack and Telegram relay URLs) are secrets - O(subscriptions[].endpoint) is C(no_log); results
    show only protocols and counts.
author:
  - naver-sms cutover team (@naver-sms-ops)
options:
  name:
    description: Topic name.
    required: true
    type: str
  subscriptions:
    description: Every subscription the topic must have.
    type: list
    elements: dict
    default: []
    suboptions:
      protocol:
        description: SNS protocol.
        type: str
        required: true
        choices: [email, email-json, http, https, sqs, lambda, sms]
      endpoint:
        description: Address, URL or ARN.
        type: str
        required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cutover.local.retries
"""

EXAMPLES = r"""
- name: Create the e-mail channel
  cutover.local.sns_channel:
    name: naver-sms-cutover-email
    subscriptions:
      - {protocol: email, endpoint: naver-sms-oncall@example.com}
"""

RETURN = r"""
topic_arn:
  description: ARN of the topic (computed from the caller's account in check mode before it exists).
  returned: always
  type: str
subscribed:
  description: Protocols of the subscriptions added (or that would be).
  returned: always
  type: list
  elements: str
unsubscribed:
  description: Protocols of the subscriptions removed (or that would be).
  returned: always
  type: list
  elements: str
subscriptions:
  description: How many subscriptions the topic has afterwards.
  returned: always
  type: int
"""

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible.module_utils.cutover.aws import InputError, finish, retry_decorator
from ansible.module_utils.cutover.monitoring import invalid_emails


def find_topic(client, name):
    for page in client.get_paginator("list_topics").paginate():
        for topic in page.get("Topics", []):
            if topic["TopicArn"].rsplit(":", 1)[-1] == name:
                return topic["TopicArn"]
    return None


def current_subscriptions(client, arn):
    found = []
    try:
        for page in client.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn):
            found.extend(page.get("Subscriptions", []))
    except is_boto3_error_code("NotFound"):
        return []
    return found


def ensure_channel(module, sns, sts):
    params = module.params
    want = {(s["protocol"], s["endpoint"]) for s in params["subscriptions"]}
    bad = [f"subscriptions[{i}]" for i, s in enumerate(params["subscriptions"])
           if s["protocol"] in ("email", "email-json") and invalid_emails([s["endpoint"]])]
    if bad:
        raise InputError(f"topic {params['name']}: {', '.join(bad)} is not an e-mail address; SNS would accept "
                         "it and the mail would never arrive: fix the address")
    arn = find_topic(sns, params["name"])
    have = current_subscriptions(sns, arn) if arn else []
    have_keys = {(s["Protocol"], s["Endpoint"]) for s in have}
    add = sorted(want - have_keys)
    remove = [s for s in have if (s["Protocol"], s["Endpoint"]) not in want
              and s["SubscriptionArn"].startswith("arn:")]
    changed = arn is None or bool(add) or bool(remove)
    if not module.check_mode:
        if arn is None:
            arn = sns.create_topic(Name=params["name"], aws_retry=True)["TopicArn"]
        for protocol, endpoint in add:
            sns.subscribe(TopicArn=arn, Protocol=protocol, Endpoint=endpoint, aws_retry=True)
        for sub in remove:
            sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"], aws_retry=True)
    elif arn is None:
        identity = sts.get_caller_identity(aws_retry=True)
        arn = f"arn:aws:sns:{module.region}:{identity['Account']}:{params['name']}"
    result = {"changed": changed, "topic_arn": arn, "subscribed": [protocol for protocol, _endpoint in add],
              "unsubscribed": [s["Protocol"] for s in remove], "subscriptions": len(have_keys | want) - len(remove)
              if changed else len(have_keys)}
    if module._diff:
        result["diff"] = {"before": {"topic": bool(find_topic(sns, params["name"])) or not changed,
                                     "protocols": sorted(protocol for protocol, _endpoint in have_keys)},
                          "after": {"topic": True, "protocols": sorted(protocol for protocol, _endpoint in want)}}
    return result


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        subscriptions=dict(type="list", elements="dict", default=[], options=dict(
            protocol=dict(type="str", required=True,
                          choices=["email", "email-json", "http", "https", "sqs", "lambda", "sms"]),
            endpoint=dict(type="str", required=True, no_log=True),
        )),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    retry = retry_decorator()
    finish(module, lambda: ensure_channel(module, module.client("sns", retry_decorator=retry),
                                          module.client("sts", retry_decorator=retry)),
           f"SNS call failed for topic {module.params['name']}")


if __name__ == "__main__":
    main()
