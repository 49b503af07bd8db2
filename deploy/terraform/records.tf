# The record key (record_key = "create"), as deploy/tgsync.yaml's RecordKmsKey: an HMAC
# key that signs tgsync's ownership records (tgsync:owned:* tags). Its policy
# (derived.tf) lets only the function's role make and check MACs; the account manages
# it and cannot use it. A key given by its ARN is granted in the role's policy instead.

resource "aws_kms_key" "record" {
  #checkov:skip=CKV_AWS_7:KMS rotates no HMAC key automatically; rotate by a new key (records signed with the old one are then unverified: docs, Shared target groups).
  count                    = local.make_record_key ? 1 : 0
  description              = "tgsync ${var.name} signs its ownership records (tgsync:owned:* tags)"
  customer_master_key_spec = "HMAC_256"
  key_usage                = "GENERATE_VERIFY_MAC"
  policy                   = jsonencode(local.record_key_policy) # derived.tf
  tags                     = var.tags
}
