"""A simulated county for the demo and the benchmarks: townships, branches,
members with Chinese names, and one enrolled device per hall.

Writes straight through the hub's services (same rules as the API)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.devices import service as devices
from hub.members.models import Member
from hub.organisations import service as orgs
from hub.organisations.models import OrgUnit

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "德明华建国志强文军平伟秀英兰芳玉珍桂春海林涛红梅永福金山庆丰洪波立新光荣振兴勇成俊杰丽娟淑芬翠花宝田长青满仓来顺"
TOWNSHIPS = ["城关镇", "河口乡", "青山镇", "白沙乡", "柳林镇", "石桥乡", "新华镇", "东岭乡", "南湖镇", "北坪乡"]
VILLAGE_PREFIX = "东西南北前后上下大小新老红黄青白金石柳杨李王张马"
VILLAGE_SUFFIX = ["村", "庄", "湾", "坪", "沟", "寨", "岭", "屯"]


@dataclass
class Hall:
    branch_id: int
    name: str
    township: str
    token: str
    members: list[int] = field(default_factory=list)


def village_name(rng: random.Random, used: set[str]) -> str:
    while True:
        name = rng.choice(VILLAGE_PREFIX) + rng.choice("家河山桥塘坝田园林峰") + rng.choice(VILLAGE_SUFFIX)
        if name not in used:
            used.add(name)
            return name


def seed_county(
    factory: sessionmaker[Session], *, townships: int = 3, halls: int = 12, members: tuple[int, int] = (15, 40),
    seed: int = 1,
) -> list[Hall]:
    """Create the county once; returns each hall with a fresh device token."""
    rng = random.Random(seed)
    out: list[Hall] = []
    with factory() as s:
        root = orgs.root(s) or orgs.create_unit(s, name="县委组织部", kind="county", parent_id=None)
        town_ids = []
        for i in range(townships):
            name = TOWNSHIPS[i] if i < len(TOWNSHIPS) else f"第{i + 1}乡镇"
            town_ids.append((orgs.create_unit(s, name=name, kind="township", parent_id=root.id), name))
        used: set[str] = set()
        number = 0
        for h in range(halls):
            town, town_name = town_ids[h % townships]
            branch = orgs.create_unit(s, name=f"{village_name(rng, used)}党支部", kind="branch", parent_id=town.id)
            hall = Hall(branch.id, branch.name, town_name, token="")
            n = rng.randint(*members)
            committee = rng.sample(range(n), k=min(n, rng.randint(3, 5)))
            for k in range(n):
                number += 1
                excused = rng.random() < 0.04
                m = Member(branch_id=branch.id, member_no=f"M{seed:02d}{number:06d}",
                           name=rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2)))),
                           phone=f"13{rng.randint(100000000, 999999999)}",
                           status="probationary" if rng.random() < 0.08 else "full", excused=excused,
                           excused_reason="长期卧床" if excused else None, committee=k in committee)
                s.add(m)
                s.flush()
                hall.members.append(m.id)
            device, code = devices.register(s, branch=branch, name=f"{branch.name}一体机")
            _, hall.token = devices.enrol(s, code)
            out.append(hall)
        s.commit()
    return out


def existing_halls(factory: sessionmaker[Session]) -> list[Hall]:
    """Halls of a county seeded before, with new tokens (old ones are not kept)."""
    out = []
    with factory() as s:
        for branch in s.scalars(select(OrgUnit).where(OrgUnit.kind == "branch").order_by(OrgUnit.id)):
            town = orgs.ancestors_named(s, branch, "township")
            device, code = devices.register(s, branch=branch, name=f"{branch.name}一体机")
            _, token = devices.enrol(s, code)
            ids = list(s.scalars(select(Member.id).where(Member.branch_id == branch.id, Member.active.is_(True))))
            out.append(Hall(branch.id, branch.name, town.name if town else "", token, ids))
        s.commit()
    return out
