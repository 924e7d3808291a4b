"""Demo prices: roughly the providers' public list prices (USD, late 2025), and an on-prem rate card.

Generic rows per provider, plus regional rows where the clouds charge more
(Sydney, Australia East), so the demo shows a regional price winning.
Loading is idempotent: rows are keyed on provider, region, kind, size and
start date.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from costs.choices import AddonSize, PriceUnit, ResourceKind
from costs.models import PriceItem
from regions.choices import Provider

EFFECTIVE_FROM = date(2026, 1, 1)

K, U, S = ResourceKind, PriceUnit, AddonSize

# provider, region ("" for any), kind, size, unit, price, note
PRICES: list[tuple[str, str, str, str, str, str, str]] = [
    (Provider.AWS, "", K.CPU, "", U.VCPU_HOUR, "0.0336", "EKS on m7i: per vCPU share"),
    (Provider.AWS, "", K.MEMORY, "", U.GIB_HOUR, "0.0042", "EKS on m7i: per GiB share"),
    (Provider.AWS, "", K.GPU, "", U.GPU_HOUR, "1.006", "g5.xlarge (NVIDIA A10G)"),
    (Provider.AWS, "", K.STORAGE, "", U.GIB_MONTH, "0.08", "EBS gp3"),
    (Provider.AWS, "", K.BUCKET, "", U.GIB_MONTH, "0.023", "S3 Standard"),
    (Provider.AWS, "", K.POSTGRESQL, S.SMALL, U.HOUR, "0.072", "RDS db.t4g.medium + 20 GiB"),
    (Provider.AWS, "", K.POSTGRESQL, S.MEDIUM, U.HOUR, "0.178", "RDS db.m7g.large + 100 GiB"),
    (Provider.AWS, "", K.POSTGRESQL, S.LARGE, U.HOUR, "0.712", "RDS db.m7g.xlarge Multi-AZ + 500 GiB"),
    (Provider.AWS, "", K.REDIS, S.SMALL, U.HOUR, "0.032", "ElastiCache cache.t4g.small"),
    (Provider.AWS, "", K.REDIS, S.MEDIUM, U.HOUR, "0.316", "ElastiCache cache.m7g.large, one replica"),
    (Provider.AWS, "", K.REDIS, S.LARGE, U.HOUR, "0.632", "ElastiCache cache.m7g.xlarge, one replica"),
    (Provider.AWS, "", K.LOAD_BALANCER, "", U.HOUR, "0.0225", "Application Load Balancer, before LCUs"),
    (Provider.AWS, "", K.NAT_GATEWAY, "", U.HOUR, "0.045", "NAT gateway, before data processed"),
    (Provider.AWS, "ap-southeast-2", K.CPU, "", U.VCPU_HOUR, "0.0420", "Sydney"),
    (Provider.AWS, "ap-southeast-2", K.MEMORY, "", U.GIB_HOUR, "0.0053", "Sydney"),
    (Provider.AZURE, "", K.CPU, "", U.VCPU_HOUR, "0.0350", "AKS on D4s v5: per vCPU share"),
    (Provider.AZURE, "", K.MEMORY, "", U.GIB_HOUR, "0.0044", "AKS on D4s v5: per GiB share"),
    (Provider.AZURE, "", K.GPU, "", U.GPU_HOUR, "0.526", "NC4as T4 v3 (NVIDIA T4)"),
    (Provider.AZURE, "", K.STORAGE, "", U.GIB_MONTH, "0.12", "Premium SSD v2, approximately"),
    (Provider.AZURE, "", K.BUCKET, "", U.GIB_MONTH, "0.0184", "Blob Storage hot LRS"),
    (Provider.AZURE, "", K.POSTGRESQL, S.SMALL, U.HOUR, "0.068", "Flexible Server B2s"),
    (Provider.AZURE, "", K.POSTGRESQL, S.MEDIUM, U.HOUR, "0.178", "Flexible Server D2ds v5"),
    (Provider.AZURE, "", K.POSTGRESQL, S.LARGE, U.HOUR, "0.712", "Flexible Server D4ds v5, zone-redundant HA"),
    (Provider.AZURE, "", K.REDIS, S.SMALL, U.HOUR, "0.055", "Azure Cache for Redis Basic C1"),
    (Provider.AZURE, "", K.REDIS, S.MEDIUM, U.HOUR, "0.202", "Azure Cache for Redis Standard C2"),
    (Provider.AZURE, "", K.REDIS, S.LARGE, U.HOUR, "0.555", "Azure Cache for Redis Premium P1"),
    (Provider.AZURE, "", K.LOAD_BALANCER, "", U.HOUR, "0.025", "Standard Load Balancer, first five rules"),
    (Provider.AZURE, "", K.NAT_GATEWAY, "", U.HOUR, "0.045", "NAT gateway, before data processed"),
    (Provider.AZURE, "australiaeast", K.CPU, "", U.VCPU_HOUR, "0.0430", "Australia East"),
    (Provider.AZURE, "australiaeast", K.MEMORY, "", U.GIB_HOUR, "0.0054", "Australia East"),
    (Provider.ON_PREM, "", K.CPU, "", U.VCPU_HOUR, "0.0150", "Centre server rate card: hardware over 4 years"),
    (Provider.ON_PREM, "", K.MEMORY, "", U.GIB_HOUR, "0.0020", "Centre server rate card"),
    (Provider.ON_PREM, "", K.GPU, "", U.GPU_HOUR, "0.300", "Centre server rate card"),
    (Provider.ON_PREM, "", K.STORAGE, "", U.GIB_MONTH, "0.03", "Centre server rate card: NVMe SSD"),
]


def load_demo_prices() -> None:
    for provider, region_code, kind, size, unit, price, note in PRICES:
        PriceItem.objects.update_or_create(
            provider=provider,
            region_code=region_code,
            kind=kind,
            size=size,
            effective_from=EFFECTIVE_FROM,
            defaults={"unit": unit, "price": Decimal(price), "currency": "USD", "note": note},
        )
